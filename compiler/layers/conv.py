"""Convolutions (1-D and 2-D) with stride, padding, dilation and groups."""
from netspec.errors import fmt_shape

from ..dims import numel
from ..registry import REQUIRED, Attr, LayerType, ShapeError, register
from .common import (
    ACTIVATION_ATTR,
    BIAS_ATTR,
    BINARY_ATTR,
    INIT_ATTR,
    STE,
    binary_label,
    fmt_spatial,
    fmt_stride,
    need_rank,
    transposed_out,
    weight_and_bias,
    window_out,
)


def conv_spatial_out(node, shape, rank: int, kernel, stride, padding, dilation, ceil_mode=False):
    """Spatial output dims of a conv/pool window over `shape[1:]`."""
    spatial = shape[1:]
    if padding == "same":
        return tuple(spatial)
    pads = (0,) * rank if padding == "valid" else padding
    kernel_desc = "x".join(map(str, kernel))
    return tuple(window_out(n, k, s, p, d, ceil_mode, fmt_shape(shape), kernel_desc)
                 for n, k, s, p, d in zip(spatial, kernel, stride, pads, dilation))


def _make(rank: int):
    name = f"conv{rank}d"

    def infer(node, in_shapes):
        (shape,) = in_shapes
        need_rank(node, shape, (rank + 1,), f"channels x {'length' if rank == 1 else 'height x width'}",
                  "add a 'reshape' to channels-first layout" if rank == 2 else None)
        a = node.attrs
        channels = shape[0]
        if not isinstance(channels, int):
            raise ShapeError(f"the channel dim must be fixed, found {channels}")
        if channels % a["groups"] or a["filters"] % a["groups"]:
            divisors = [g for g in range(1, min(channels, a["filters"]) + 1)
                        if channels % g == 0 and a["filters"] % g == 0]
            raise ShapeError(f"groups={a['groups']} must divide both input channels ({channels}) and "
                             f"filters ({a['filters']})", f"use groups from {divisors[:8]}")
        if a["padding"] == "same" and any(s != 1 for s in a["stride"]):
            raise ShapeError("padding 'same' needs stride 1 (as in PyTorch)",
                             "give the padding as a number, e.g. padding: "
                             f"{(a['kernel'][0] - 1) // 2}")
        return (a["filters"], *conv_spatial_out(node, shape, rank, a["kernel"], a["stride"],
                                                a["padding"], a["dilation"]))

    def params(node, in_shapes):
        a = node.attrs
        return weight_and_bias(node, (a["filters"], in_shapes[0][0] // a["groups"], *a["kernel"]),
                               (a["filters"],) if a["bias"] else None)

    def flops(node, in_shapes, out_shape):
        a = node.attrs
        per_output = (in_shapes[0][0] // a["groups"]) * numel(a["kernel"])
        return numel(out_shape) * per_output

    def label(node):
        a = node.attrs
        text = f"{node.op} {fmt_spatial(a['kernel'])}{fmt_stride(a['stride'])}"
        if any(d != 1 for d in a["dilation"]):
            text += f" dil {fmt_spatial(a['dilation'])}"
        if a["padding"] == "same":
            text += " same"
        text += f", {a['filters']}"
        return text + (f" g{a['groups']}" if a["groups"] != 1 else "") + binary_label(node)

    register(LayerType(
        name, "convolution", spatial_rank=rank, label=label,
        attrs=[Attr("filters", "int", REQUIRED, min=1, aliases=("out_channels", "channels")),
               Attr("kernel", "spatial", REQUIRED, min=1, aliases=("kernel_size",)),
               Attr("stride", "spatial", 1, min=1),
               Attr("padding", "padding", 0, min=0),
               Attr("dilation", "spatial", 1, min=1),
               Attr("groups", "int", 1, min=1),
               BIAS_ATTR, ACTIVATION_ATTR, INIT_ATTR, BINARY_ATTR],
        infer=infer, params=params, flops=flops,
        examples=({"attrs": {"filters": 4, "kernel": 3, "padding": 1, "activation": "relu"}, "inputs": [[2] + [6] * rank]},
                  {"attrs": {"filters": 3, "kernel": 3, "padding": 1, "binary": True}, "inputs": [[2] + [5] * rank],
                   "finite_differences": STE},
                  {"attrs": {"filters": 4, "kernel": 2, "stride": 2, "binary": "xnor", "bias": False},
                   "inputs": [[3] + [6] * rank], "finite_differences": STE},
                  {"attrs": {"filters": 4, "kernel": 2, "stride": 2, "groups": 2, "dilation": 1, "bias": False},
                   "inputs": [[4] + [7] * rank]},
                  {"attrs": {"filters": 3, "kernel": 3, "dilation": 2, "padding": "same"}, "inputs": [[2] + [6] * rank]}),
        doc=f"{rank}-D convolution over channels-first input"))


_make(1)
_make(2)


def _make_transpose(rank: int):
    """conv_transpose{rank}d: the gradient of a convolution, with PyTorch's weight layout (in, out/groups, *k)."""
    name = f"conv_transpose{rank}d"

    def infer(node, in_shapes):
        (shape,) = in_shapes
        need_rank(node, shape, (rank + 1,), f"channels x {'length' if rank == 1 else 'height x width'}")
        a = node.attrs
        channels = shape[0]
        if not isinstance(channels, int):
            raise ShapeError(f"the channel dim must be fixed, found {channels}")
        if channels % a["groups"] or a["filters"] % a["groups"]:
            raise ShapeError(f"groups={a['groups']} must divide both input channels ({channels}) and "
                             f"filters ({a['filters']})")
        for op, s, d in zip(a["output_padding"], a["stride"], a["dilation"]):
            if op >= max(s, d):
                raise ShapeError(f"output_padding {op} must be smaller than the stride ({s}) or the dilation ({d})",
                                 "use output_padding 0 or stride - 1")
        out = []
        for n, k, s, p, d, op in zip(shape[1:], a["kernel"], a["stride"], a["padding"], a["dilation"],
                                     a["output_padding"]):
            size = transposed_out(n, k, s, p, d, op)
            if isinstance(size, int) and size <= 0:
                raise ShapeError(f"output size ({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {size} is not "
                                 "positive", "use less padding")
            out.append(size)
        return (a["filters"], *out)

    def params(node, in_shapes):
        a = node.attrs
        channels = in_shapes[0][0]
        # as in PyTorch, fan_in reads weight dim 1 here too: (filters / groups) * kernel size
        return weight_and_bias(node, (channels, a["filters"] // a["groups"], *a["kernel"]),
                               (a["filters"],) if a["bias"] else None)

    def flops(node, in_shapes, out_shape):
        a = node.attrs
        return numel(in_shapes[0]) * (a["filters"] // a["groups"]) * numel(a["kernel"])

    def label(node):
        a = node.attrs
        text = f"{node.op} {fmt_spatial(a['kernel'])}{fmt_stride(a['stride'])}, {a['filters']}"
        return text + (f" g{a['groups']}" if a["groups"] != 1 else "")

    register(LayerType(
        name, "convolution", spatial_rank=rank, label=label, aliases=(f"deconv{rank}d",),
        attrs=[Attr("filters", "int", REQUIRED, min=1, aliases=("out_channels", "channels")),
               Attr("kernel", "spatial", REQUIRED, min=1, aliases=("kernel_size",)),
               Attr("stride", "spatial", 1, min=1),
               Attr("padding", "spatial", 0, min=0),
               Attr("output_padding", "spatial", 0, min=0),
               Attr("dilation", "spatial", 1, min=1),
               Attr("groups", "int", 1, min=1),
               BIAS_ATTR, ACTIVATION_ATTR, INIT_ATTR],
        infer=infer, params=params, flops=flops,
        examples=({"attrs": {"filters": 3, "kernel": 4, "stride": 2, "padding": 1}, "inputs": [[2] + [3] * rank]},
                  {"attrs": {"filters": 4, "kernel": 3, "stride": 2, "output_padding": 1, "groups": 2, "bias": False,
                             "activation": "relu"}, "inputs": [[2] + [3] * rank]},
                  {"attrs": {"filters": 2, "kernel": 2, "dilation": 2, "padding": 1}, "inputs": [[3] + [4] * rank]}),
        doc=f"{rank}-D transposed convolution (PyTorch's ConvTranspose{rank}d)"))


_make_transpose(1)
_make_transpose(2)
