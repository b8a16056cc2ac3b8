"""Convolutions: conv1d, conv2d."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import call, init_lines, module_call, simple, spatial, unless


def _padding(padding) -> str | None:
    if padding == "valid" or (not isinstance(padding, str) and not any(padding)):
        return None
    return '"same"' if padding == "same" else spatial(padding)


@TORCH.layer("conv1d", "conv2d")
def conv(node):
    a = node.attrs
    module = call(f"nn.Conv{node.op[4]}d", node.in_shapes[0][0], a["filters"], spatial(a["kernel"]),
                  stride=None if set(a["stride"]) == {1} else spatial(a["stride"]), padding=_padding(a["padding"]),
                  dilation=None if set(a["dilation"]) == {1} else spatial(a["dilation"]),
                  groups=unless(a["groups"], 1, str), bias=None if a["bias"] else False)
    return Lowering(simple(module_call), module, init_lines(node))
