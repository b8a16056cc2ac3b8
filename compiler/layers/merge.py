"""Merges: add, mul (element-wise) and concat (along an axis)."""
from netspec.errors import fmt_shape

from ..registry import Attr, LayerType, ShapeError, register
from .common import elementwise_flops

_MANY = 64


def _elementwise_infer(node, in_shapes):
    first = in_shapes[0]
    for index, shape in enumerate(in_shapes[1:], start=1):
        if tuple(shape) != tuple(first):
            sources = node.inputs
            raise ShapeError(f"inputs must have equal shapes, but '{sources[0]}' is {fmt_shape(first)} "
                             f"and '{sources[index]}' is {fmt_shape(shape)}",
                             "project the shortcut with a 1x1 conv2d (stride and filters to match)"
                             if len(first) == 3 else "add a linear layer to match the sizes")
    return first


def _concat_infer(node, in_shapes):
    axis = node.attrs["axis"]
    rank = len(in_shapes[0])
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for inputs of rank {rank}",
                         f"axes count per-sample dims, channels first: use 0 to {rank - 1} (or -{rank} to -1)")
    axis %= rank
    total = 0
    for index, shape in enumerate(in_shapes):
        other = [d for i, d in enumerate(shape) if i != axis]
        first = [d for i, d in enumerate(in_shapes[0]) if i != axis]
        if len(shape) != rank or other != first:
            raise ShapeError(f"inputs must match on every axis but {axis}, but '{node.inputs[0]}' is "
                             f"{fmt_shape(in_shapes[0])} and '{node.inputs[index]}' is {fmt_shape(shape)}",
                             "check the strides and paddings of the branches")
        total = total + shape[axis]
    out = list(in_shapes[0])
    out[axis] = total
    return tuple(out)


for _name in ("add", "mul"):
    register(LayerType(_name, "merge", infer=_elementwise_infer, flops=elementwise_flops,
                       examples=({"inputs": [[2, 3], [2, 3]]}, {"inputs": [[4], [4], [4]]}),
                       min_inputs=2, max_inputs=_MANY, aliases=("sum",) if _name == "add" else ("multiply",),
                       doc=f"element-wise {_name} of inputs with equal shapes"))
register(LayerType("concat", "merge", infer=_concat_infer, min_inputs=2, max_inputs=_MANY,
                   examples=({"inputs": [[2, 3], [4, 3]]}, {"attrs": {"axis": -1}, "inputs": [[2, 3], [2, 1]]}),
                   label=lambda node: "concat" + (f" axis {node.attrs['axis']}" if node.attrs["axis"] != 0 else ""),
                   attrs=[Attr("axis", "int", 0, aliases=("dim",))], aliases=("concatenate", "cat"),
                   doc="join inputs along an axis (0: channels)"))
