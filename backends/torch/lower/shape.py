"""Shape layers: flatten, reshape."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import simple


@TORCH.layer("flatten")
def flatten(node):
    return Lowering(simple(lambda ref, args: f"torch.flatten({args[0]}, 1)"))


@TORCH.layer("reshape")
def reshape(node):
    dims = ", ".join(str(d) for d in node.shape)
    return Lowering(simple(lambda ref, args: f"{args[0]}.reshape(-1, {dims})"))
