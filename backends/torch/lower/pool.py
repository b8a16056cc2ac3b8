"""Pooling: max, average and power-average windows, adaptive and global pooling."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import call, module_call, number, simple, spatial


def _window(a) -> dict:
    """The keyword arguments every window pool shares."""
    return {"stride": None if a["stride"] == a["kernel"] else spatial(a["stride"]),
            "padding": spatial(a["padding"]) if any(a["padding"]) else None,
            "ceil_mode": True if a["ceil_mode"] else None}


@TORCH.layer("maxpool1d", "maxpool2d")
def maxpool(node):
    a = node.attrs
    module = call(f"nn.MaxPool{node.op[-2]}d", spatial(a["kernel"]), **_window(a),
                  dilation=None if set(a["dilation"]) == {1} else spatial(a["dilation"]))
    return Lowering(simple(module_call), module)


@TORCH.layer("avgpool1d", "avgpool2d")
def avgpool(node):
    a = node.attrs
    module = call(f"nn.AvgPool{node.op[-2]}d", spatial(a["kernel"]), **_window(a),
                  count_include_pad=None if a["count_include_pad"] else False)
    return Lowering(simple(module_call), module)


@TORCH.layer("lppool2d")
def lppool(node):
    a = node.attrs
    window = _window(a)
    module = call("nn.LPPool2d", number(a["norm"]), spatial(a["kernel"]), stride=window["stride"],
                  ceil_mode=window["ceil_mode"])
    return Lowering(simple(module_call), module)


@TORCH.layer("adaptive_avgpool2d")
def adaptive_avgpool(node):
    return Lowering(simple(module_call), call("nn.AdaptiveAvgPool2d", spatial(node.attrs["output"])))


@TORCH.layer("global_avgpool", "global_maxpool")
def global_pool(node):
    dims = "(2, 3)" if len(node.in_shapes[0]) == 3 else "2"
    method = "mean" if node.op == "global_avgpool" else "amax"
    return Lowering(simple(lambda ref, args: f"{args[0]}.{method}(dim={dims})"))
