"""Helpers shared by the layer-type definitions."""
from __future__ import annotations

import functools
import math

from netspec.errors import fmt_shape

from ..dims import Sym, numel
from ..registry import ZEROS, Attr, ShapeError, normal, uniform

ACTIVATION_ATTR = Attr("activation", "activation", None,
                       doc="fused activation applied to the output")
BIAS_ATTR = Attr("bias", "bool", True, doc="learn an additive bias")
INIT_ATTR = Attr("init", "choice", "default", choices=("default", "xavier", "he", "normal"),
                 doc="weight initialiser (default: PyTorch's)")


def fmt_spatial(values) -> str:
    """(5, 5) -> '5x5' (diagram labels)."""
    return "x".join(str(v) for v in values)


def fmt_stride(values) -> str:
    """'' for stride 1, else ' /2' or ' /2x1' (diagram labels)."""
    return "" if all(v == 1 for v in values) else " /" + (str(values[0]) if len(set(values)) == 1
                                                          else fmt_spatial(values))


def window_label(node) -> str:
    """`maxpool2d 3x3 /2`: a window op's kernel and stride."""
    a = node.attrs
    return f"{node.op} {fmt_spatial(a['kernel'])}{fmt_stride(a.get('stride') or (1,))}"


def weight_and_bias(node, weight_shape: tuple, bias_shape: tuple | None) -> list:
    """[(name, shape, init)] of a linear/conv weight (and bias): PyTorch's default U(+-1/sqrt(fan_in)), or
    the scheme the `init` attr names (xavier: xavier_uniform_; he: kaiming_normal_ for relu; normal: N(0, 0.01)),
    whose biases start at zero."""
    weight, bias = _initialisers(node.attrs.get("init", "default"), max(1, numel(weight_shape[1:])),
                                 weight_shape[0] * numel(weight_shape[2:]))
    out = [("weight", weight_shape, weight)]
    return out + [("bias", bias_shape, bias)] if bias_shape is not None else out


@functools.lru_cache(maxsize=4096)
def _initialisers(scheme: str, fan_in: int, fan_out: int) -> tuple:
    """(weight Init, bias Init) for an init scheme and fans; shared, since a big spec repeats a few layers."""
    if scheme == "xavier":
        weight = uniform(math.sqrt(6.0 / (fan_in + fan_out)))
    elif scheme == "he":
        weight = normal(math.sqrt(2.0 / fan_in))
    elif scheme == "normal":
        weight = normal(0.01)
    else:
        weight = uniform(1.0 / math.sqrt(fan_in))
    return weight, uniform(1.0 / math.sqrt(fan_in)) if scheme in (None, "default") else ZEROS


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


def transposed_out(n, kernel: int, stride: int, pad: int, dilation: int = 1, output_padding: int = 0):
    """Output length of a transposed convolution: (n - 1)s - 2p + d(k-1) + output_padding + 1."""
    return (n - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1


def elementwise_flops(node, in_shapes, out_shape) -> int:
    return numel(out_shape)


BINARY_ATTR = Attr("binary", "choice", False, choices=(False, True, "xnor"),
                   doc="±1 weights: the forward pass uses BIN(W) (+1 where w >= 0, else -1) while latent real "
                       "weights train, clipped to [-1, 1]; xnor: BIN(W) times a per-output-channel mean|W|")

STE = "binary weights: the straight-through estimator defines the gradient (1 where |w| <= 1)"


def binary_label(node) -> str:
    """' binary' / ' xnor' for a binary layer's diagram label, '' otherwise."""
    mode = node.attrs.get("binary")
    return "" if not mode else " xnor" if mode == "xnor" else " binary"
