"""Merging several inputs: arithmetic with broadcasting over per-sample dims, concat."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import batch_axis, simple

OPERATORS = {"add": " + ", "sub": " - ", "mul": " * ", "div": " / "}


def aligned(node, args) -> list:
    """The input expressions with unit axes after the batch axis where an input's per-sample rank is lower
    (per-sample shapes align at the last axis, the batch axis is always first): `x[:, None]`."""
    rank = max(len(shape) for shape in node.in_shapes)
    return [arg if len(shape) == rank else f"{arg}[:, {', '.join(['None'] * (rank - len(shape)))}]"
            for arg, shape in zip(args, node.in_shapes)]


@TORCH.layer(*OPERATORS)
def arithmetic(node):
    return Lowering(simple(lambda ref, args: OPERATORS[node.op].join(aligned(node, args))))


@TORCH.layer("maximum", "minimum")
def extreme(node):
    def expr(ref, args):
        args = aligned(node, args)
        out = args[0]
        for arg in args[1:]:
            out = f"torch.{node.op}({out}, {arg})"
        return out
    return Lowering(simple(expr))


@TORCH.layer("concat")
def concat(node):
    axis = batch_axis(node.attrs["axis"] % len(node.in_shapes[0]))
    return Lowering(simple(lambda ref, args: f"torch.cat([{', '.join(args)}], dim={axis})"))
