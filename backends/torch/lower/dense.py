"""Dense layers: linear."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import BINARY_HELPERS, binary_weight, call, init_lines, module_call, simple


@TORCH.layer("linear")
def linear(node):
    a = node.attrs
    module = call("nn.Linear", node.in_shapes[0][-1], a["units"], bias=None if a["bias"] else False)
    if a["binary"]:
        return Lowering(simple(lambda ref, args: f"F.linear({args[0]}, {binary_weight(node, ref)}, {ref}.bias)"),
                        module, init_lines(node), helpers=BINARY_HELPERS)
    return Lowering(simple(module_call), module, init_lines(node))
