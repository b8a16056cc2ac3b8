"""Helpers shared by the layer-type definitions."""
from __future__ import annotations

from netspec.errors import fmt_shape

from ..dims import Sym, numel
from ..registry import ACTIVATIONS, Attr, ShapeError

ACTIVATION_ATTR = Attr("activation", "choice", None, choices=(None, "none", *ACTIVATIONS),
                       doc="fused activation applied to the output")
BIAS_ATTR = Attr("bias", "bool", True, doc="learn an additive bias")
INIT_ATTR = Attr("init", "choice", "default", choices=("default", "xavier", "he", "normal"),
                 doc="weight initialiser (default: PyTorch's)")


def need_rank(node, shape, ranks, what: str, hint: str | None = None) -> None:
    """Raise a ShapeError unless the input has one of the given ranks."""
    if len(shape) not in ranks:
        raise ShapeError(f"expects {what}, found input {fmt_shape(shape)} (rank {len(shape)})", hint)


def window_out(n, kernel: int, stride: int, pad: int, dilation: int = 1, ceil_mode: bool = False,
               input_desc: str = "", kernel_desc: str = ""):
    """Output length of a conv/pool window: floor((n + 2p - d(k-1) - 1)/s) + 1."""
    span = dilation * (kernel - 1) + 1
    if isinstance(n, Sym):
        return (n + (2 * pad - span)) // stride + 1
    numerator = n + 2 * pad - span
    out = (-(-numerator // stride) if ceil_mode else numerator // stride) + 1
    if ceil_mode and out > 0 and (out - 1) * stride >= n + pad:
        out -= 1
    if out <= 0 or (numerator < 0 and not ceil_mode):   # ceil mode: a window may run past the end
        if dilation == 1:
            formula = f"({n} + 2*{pad} - {kernel})/{stride} + 1"
        else:
            formula = f"({n} + 2*{pad} - {dilation}*({kernel}-1) - 1)/{stride} + 1"
        shown = numerator // stride + 1 if numerator < 0 else out
        raise ShapeError(f"input is {input_desc} but kernel is {kernel_desc} — output size "
                         f"{formula} = {shown} is not positive",
                         "use padding, a smaller kernel or stride, or fewer downsampling layers before it")
    return out


def elementwise_flops(node, in_shapes, out_shape) -> int:
    return numel(out_shape)
