"""Merges: element-wise arithmetic with NumPy broadcasting over per-sample dims, and concat along an axis."""
from netspec.errors import fmt_shape

from ..dims import Sym
from ..registry import Attr, LayerType, ShapeError, register
from .common import elementwise_flops

_MANY = 64

# op -> (aliases, most inputs, symbol, doc)
ARITHMETIC = {
    "add": (("sum", "plus"), _MANY, "+", "sum of the inputs"),
    "sub": (("subtract", "minus"), 2, "-", "first input minus the second"),
    "mul": (("multiply", "prod"), _MANY, "×", "product of the inputs (a C x H x W times C x 1 x 1 scales channels)"),
    "div": (("divide",), 2, "÷", "first input divided by the second"),
    "maximum": (("max",), _MANY, "max", "element-wise largest input"),
    "minimum": (("min",), _MANY, "min", "element-wise smallest input"),
}


def broadcast_shape(node, in_shapes) -> tuple:
    """NumPy broadcasting of the inputs' per-sample shapes (aligned at the last axis), or a ShapeError."""
    rank = max(len(shape) for shape in in_shapes)
    out = []
    for axis in range(rank):
        dims = [shape[axis - rank + len(shape)] for shape in in_shapes if axis - rank + len(shape) >= 0]
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ShapeError(_mismatch(node, in_shapes, rank, axis), _hint(node, in_shapes))
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _mismatch(node, in_shapes, rank, axis) -> str:
    shown = " and ".join(f"'{name}' is {fmt_shape(shape)}" for name, shape in zip(node.inputs, in_shapes))
    sizes = " vs ".join(str(s[axis - rank + len(s)]) for s in in_shapes if axis - rank + len(s) >= 0)
    return f"inputs must have equal shapes or broadcast (NumPy rules), but {shown}: axis {axis} has {sizes}"


def _hint(node, in_shapes) -> str:
    first = in_shapes[0]
    if node.op == "add" and len({len(s) for s in in_shapes}) == 1 and len(first) == 3 and all(
            isinstance(d, int) for s in in_shapes for d in s):
        return "project the shortcut with a 1x1 conv2d (stride and filters to match)"
    if node.op == "mul" and len(first) == 3:
        return "to scale channels (squeeze-excitation), give the scale shape C x 1 x 1, e.g. a reshape to [C, 1, 1]"
    if any(isinstance(d, Sym) for s in in_shapes for d in s):
        return "symbolic dims broadcast only against the same symbol or 1"
    return "make the sizes equal, or 1 where one input should repeat (a linear layer or reshape can match them)"


for _name, (_aliases, _most, _symbol, _doc) in ARITHMETIC.items():
    register(LayerType(_name, "merge", infer=broadcast_shape, flops=elementwise_flops, min_inputs=2, max_inputs=_most,
                       aliases=_aliases, doc=_doc + " (NumPy broadcasting over per-sample dims)",
                       label=lambda node: ARITHMETIC[node.op][2],
                       examples=({"inputs": [[2, 3], [2, 3]]},
                                 {"inputs": [[3, 2, 2], [3, 1, 1]]},
                                 {"inputs": [[4], [2, 1], [1, 4]][:_most]})))


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


register(LayerType("concat", "merge", infer=_concat_infer, min_inputs=2, max_inputs=_MANY,
                   label=lambda node: "concat" + (f" axis {node.attrs['axis']}" if node.attrs["axis"] != 0 else ""),
                   examples=({"inputs": [[2, 3], [4, 3]]}, {"attrs": {"axis": -1}, "inputs": [[2, 3], [2, 1]]}),
                   attrs=[Attr("axis", "int", 0, aliases=("dim",))], aliases=("concatenate", "cat"),
                   doc="join inputs along an axis (0: channels)"))
