"""Shape layers: flatten and reshape."""
from netspec.errors import fmt_shape

from ..dims import Sym, numel
from ..registry import REQUIRED, Attr, LayerType, ShapeError, register


def _flatten_infer(node, in_shapes):
    (shape,) = in_shapes
    if any(isinstance(d, Sym) for d in shape):
        raise ShapeError(f"cannot flatten {fmt_shape(shape)}: it has a symbolic dim",
                         "pool or take the last step of the sequence first")
    return (numel(shape),)


register(LayerType("flatten", "shape", infer=_flatten_infer, examples=({"inputs": [[2, 3, 4]]},), doc="all per-sample dims into one"))


def _reshape_infer(node, in_shapes):
    (shape,) = in_shapes
    target = list(node.attrs["shape"])
    if any(isinstance(d, Sym) for d in shape):
        raise ShapeError(f"cannot reshape {fmt_shape(shape)}: it has a symbolic dim")
    if target.count(-1) > 1:
        raise ShapeError(f"at most one -1 is allowed in shape {target}")
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"shape {target} has a dim that is neither positive nor -1")
    total, known = numel(shape), numel([d for d in target if d != -1])
    if -1 in target:
        if total % known:
            raise ShapeError(f"cannot reshape {fmt_shape(shape)} ({total} values) to {target}: "
                             f"{total} is not divisible by {known}")
        target[target.index(-1)] = total // known
    if numel(target) != total:
        raise ShapeError(f"cannot reshape {fmt_shape(shape)} ({total} values) to "
                         f"{fmt_shape(target)} ({numel(target)} values)",
                         "the element counts must match; use -1 for one dim to infer it")
    return tuple(target)


register(LayerType("reshape", "shape", infer=_reshape_infer,
                   examples=({"attrs": {"shape": [3, -1]}, "inputs": [[2, 6]]},), label=lambda node: f"reshape {fmt_shape(node.attrs['shape'])}",
                   attrs=[Attr("shape", "ints", REQUIRED, min=-1, aliases=("target", "dims"))],
                   doc="reshape per-sample dims (one dim may be -1)"))
