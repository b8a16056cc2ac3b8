"""Convolutions: conv1d, conv2d, conv_transpose1d, conv_transpose2d."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import BINARY_HELPERS, binary_weight, call, init_lines, module_call, simple, spatial, unless


def _padding(padding) -> str | None:
    if padding == "valid" or (not isinstance(padding, str) and not any(padding)):
        return None
    return '"same"' if padding == "same" else spatial(padding)


def _unless_all(values, default) -> str | None:
    """A spatial keyword's text, or None where every axis has PyTorch's default."""
    return None if set(values) == {default} else spatial(values)


@TORCH.layer("conv1d", "conv2d")
def conv(node):
    a = node.attrs
    module = call(f"nn.Conv{node.op[4]}d", node.in_shapes[0][0], a["filters"], spatial(a["kernel"]),
                  stride=None if set(a["stride"]) == {1} else spatial(a["stride"]), padding=_padding(a["padding"]),
                  dilation=None if set(a["dilation"]) == {1} else spatial(a["dilation"]),
                  groups=unless(a["groups"], 1, str), bias=None if a["bias"] else False)
    if a["binary"]:              # the module's own convolution (padding, stride, ...) with BIN(W)
        return Lowering(simple(lambda ref, args: f"{ref}._conv_forward({args[0]}, {binary_weight(node, ref)}, "
                                                 f"{ref}.bias)"), module, init_lines(node), helpers=BINARY_HELPERS)
    return Lowering(simple(module_call), module, init_lines(node))


@TORCH.layer("conv_transpose1d", "conv_transpose2d")
def conv_transpose(node):
    a = node.attrs
    module = call(f"nn.ConvTranspose{node.op[-2]}d", node.in_shapes[0][0], a["filters"], spatial(a["kernel"]),
                  stride=_unless_all(a["stride"], 1), padding=_unless_all(a["padding"], 0),
                  output_padding=_unless_all(a["output_padding"], 0), groups=unless(a["groups"], 1, str),
                  bias=None if a["bias"] else False, dilation=_unless_all(a["dilation"], 1))
    return Lowering(simple(module_call), module, init_lines(node))
