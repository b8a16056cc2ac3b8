"""Activation layers (also usable as `activation:` on linear, conv and rbm layers)."""
from ..registry import Attr, LayerType, ShapeError, register
from .common import elementwise_flops


def _same(node, in_shapes):
    return in_shapes[0]


def _softmax_infer(node, in_shapes):
    (shape,) = in_shapes
    axis = node.attrs["axis"]
    if not -len(shape) <= axis < len(shape):
        raise ShapeError(f"axis {axis} is out of range for input of rank {len(shape)}")
    return shape


_DOCS = {
    "relu": "max(x, 0)", "sigmoid": "1 / (1 + exp(-x))", "tanh": "hyperbolic tangent",
    "step": "1 where x > 0, else 0 (Heaviside)", "sign": "-1, 0 or 1", "identity": "x",
}
for _name, _doc in _DOCS.items():
    register(LayerType(_name, "activation", infer=_same, flops=elementwise_flops, doc=_doc, fusable=True,
                       examples=({"inputs": [[3, 4]]},),
                       aliases=("linear_activation",) if _name == "identity" else ()))
register(LayerType("leaky_relu", "activation", infer=_same, flops=elementwise_flops, fusable=True,
                   examples=({"inputs": [[6]]}, {"attrs": {"slope": 0.2}, "inputs": [[2, 3, 3]]}),
                   label=lambda node: f"leaky_relu {node.attrs['slope']:g}",
                   attrs=[Attr("slope", "float", 0.01, min=0.0, aliases=("negative_slope", "alpha"))],
                   doc="x if x > 0 else slope * x"))
register(LayerType("softmax", "activation", infer=_softmax_infer, flops=elementwise_flops, fusable=True,
                   examples=({"inputs": [[5]]}, {"attrs": {"axis": 0}, "inputs": [[3, 4]]}),
                   attrs=[Attr("axis", "int", -1, aliases=("dim",))], doc="exp(x) / sum exp(x) along axis"))
