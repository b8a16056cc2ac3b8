"""Pooling: max, average, L2 (power-average), global and adaptive."""
from ..dims import numel
from ..registry import REQUIRED, Attr, LayerType, ShapeError, register
from .common import fmt_spatial, need_rank, window_label
from .conv import conv_spatial_out


def _window_attrs(extra=()):
    return [Attr("kernel", "spatial", REQUIRED, min=1, aliases=("kernel_size", "size")),
            Attr("stride", "spatial", None, min=1, doc="default: the kernel"),
            Attr("padding", "spatial", 0, min=0),
            Attr("ceil_mode", "bool", False), *extra]


def _stride_defaults_to_kernel(attrs) -> None:
    if attrs["stride"] is None:
        attrs["stride"] = attrs["kernel"]


def _make_window_pool(kind: str, rank: int, extra=(), aliases=(), padded: bool = True):
    name = f"{kind}{rank}d"

    def infer(node, in_shapes):
        (shape,) = in_shapes
        need_rank(node, shape, (rank + 1,), f"channels x {'length' if rank == 1 else 'height x width'}")
        a = node.attrs
        if not padded and any(a["padding"]):
            raise ShapeError(f"{name} takes no padding (as in PyTorch)", "remove 'padding'")
        for k, p in zip(a["kernel"], a["padding"]):
            if p * 2 > k:
                raise ShapeError(f"padding {p} is more than half the kernel {k}",
                                 f"use padding of at most {k // 2}")
        dilation = a.get("dilation", (1,) * rank)
        return (shape[0], *conv_spatial_out(node, shape, rank, a["kernel"], a["stride"], a["padding"],
                                            dilation, a["ceil_mode"]))

    def flops(node, in_shapes, out_shape):
        return numel(out_shape) * numel(node.attrs["kernel"])

    def label(node):
        norm = node.attrs.get("norm")
        return window_label(node) + (f" L{norm:g}" if norm not in (None, 2) else "")

    register(LayerType(name, "pooling", attrs=_window_attrs(extra), infer=infer, flops=flops, label=label,
                       examples=({"attrs": {"kernel": 2}, "inputs": [[2] + [6] * rank]},
                                 {"attrs": {"kernel": 3, "stride": 2, **({"padding": 1} if padded else {}),
                                            "ceil_mode": True}, "inputs": [[2] + [7] * rank]}),
                       normalize=_stride_defaults_to_kernel,
                       spatial_rank=rank, aliases=aliases, doc=f"{kind} over {rank}-D windows"))


for _rank in (1, 2):
    _make_window_pool("maxpool", _rank, extra=(Attr("dilation", "spatial", 1, min=1),))
    _make_window_pool("avgpool", _rank, extra=(Attr("count_include_pad", "bool", True),))
_make_window_pool("lppool", 2, extra=(Attr("norm", "float", 2.0, min=1.0, aliases=("p",)),),
                  aliases=("l2pool2d", "l2pool"), padded=False)


def _global_infer(node, in_shapes):
    (shape,) = in_shapes
    need_rank(node, shape, (2, 3), "channels x length or channels x height x width",
              "global pooling needs spatial dims; remove it after 'flatten'")
    return (shape[0],)


for _name, _aliases in (("global_avgpool", ("gap", "global_average_pooling")), ("global_maxpool", ())):
    register(LayerType(_name, "pooling", infer=_global_infer, aliases=_aliases,
                       examples=({"inputs": [[3, 4, 5]]}, {"inputs": [[2, 6]]}),
                       flops=lambda node, ins, out: numel(ins[0]), doc="pool every spatial position"))


def _adaptive_infer(node, in_shapes):
    (shape,) = in_shapes
    need_rank(node, shape, (3,), "channels x height x width")
    return (shape[0], *node.attrs["output"])


register(LayerType("adaptive_avgpool2d", "pooling", spatial_rank=2, infer=_adaptive_infer,
                   examples=({"attrs": {"output": 2}, "inputs": [[2, 5, 7]]},
                             {"attrs": {"output": [3, 1]}, "inputs": [[2, 6, 4]]}),
                   label=lambda node: f"adaptive_avgpool2d {fmt_spatial(node.attrs['output'])}",
                   attrs=[Attr("output", "spatial", REQUIRED, min=1, aliases=("output_size", "size"))],
                   flops=lambda node, ins, out: numel(ins[0]), doc="average to a fixed output size"))
