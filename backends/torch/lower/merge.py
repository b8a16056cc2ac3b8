"""Merging several inputs: add, mul, concat."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import batch_axis, simple


@TORCH.layer("add")
def add(node):
    return Lowering(simple(lambda ref, args: " + ".join(args)))


@TORCH.layer("mul")
def mul(node):
    return Lowering(simple(lambda ref, args: " * ".join(args)))


@TORCH.layer("concat")
def concat(node):
    axis = batch_axis(node.attrs["axis"] % len(node.in_shapes[0]))
    return Lowering(simple(lambda ref, args: f"torch.cat([{', '.join(args)}], dim={axis})"))
