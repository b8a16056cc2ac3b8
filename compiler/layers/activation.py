"""Activation layers; those without parameters are also usable as `activation:` on other layers, with their
attributes (`activation: {type: leaky_relu, slope: 0.2}`)."""
from netspec.errors import fmt_shape

from ..registry import Attr, Init, LayerType, ShapeError, register
from .common import elementwise_flops


def _same(node, in_shapes):
    return in_shapes[0]


def _axis_infer(node, in_shapes):
    (shape,) = in_shapes
    axis = node.attrs["axis"]
    if not -len(shape) <= axis < len(shape):
        raise ShapeError(f"axis {axis} is out of range for input {fmt_shape(shape)} (rank {len(shape)})",
                         f"axes count per-sample dims: use 0 to {len(shape) - 1}, or -1 for the last")
    return shape


def _activation(name: str, doc: str, attrs=(), aliases=(), infer=_same, label=None, examples=None):
    """Register a parameter-free activation: fusable, elementwise cost, small examples by default."""
    register(LayerType(name, "activation", infer=infer, flops=elementwise_flops, doc=doc, fusable=True,
                       attrs=list(attrs), aliases=aliases, label=label or (lambda node: node.op),
                       examples=examples or ({"inputs": [[3, 4]]},)))


_activation("relu", "max(x, 0)")
_activation("sigmoid", "1 / (1 + exp(-x))")
_activation("tanh", "hyperbolic tangent")
_activation("step", "1 where x > 0, else 0 (Heaviside)")
_activation("sign", "-1, 0 or 1 (PyTorch's sign; zero gradient; for binary networks use binarize)")
_activation("binarize", "BIN(x): +1 where x >= 0, else -1 (+1 at 0, unlike sign), with the straight-through "
            "gradient: 1 where |x| <= 1, else 0", aliases=("bin", "sign_ste"),
            examples=({"inputs": [[3, 4]], "scale": 2.0,
                       "finite_differences": "straight-through estimator: the gradient is 1 where |x| <= 1"},))
_activation("identity", "x", aliases=("linear_activation",))
_activation("leaky_relu", "x if x > 0 else slope * x",
            attrs=[Attr("slope", "float", 0.01, min=0.0, aliases=("negative_slope", "alpha"))],
            label=lambda node: f"leaky_relu {node.attrs['slope']:g}",
            examples=({"inputs": [[6]]}, {"attrs": {"slope": 0.2}, "inputs": [[2, 3, 3]]}))
_activation("softmax", "exp(x) / sum exp(x) along axis", attrs=[Attr("axis", "int", -1, aliases=("dim",))],
            infer=_axis_infer, examples=({"inputs": [[5]]}, {"attrs": {"axis": 0}, "inputs": [[3, 4]]}))
_activation("log_softmax", "log(softmax(x)) along axis, computed stably",
            attrs=[Attr("axis", "int", -1, aliases=("dim",))], infer=_axis_infer,
            examples=({"inputs": [[5]]}, {"attrs": {"axis": 0}, "inputs": [[3, 4]]}))
_activation("relu6", "min(max(x, 0), 6)", examples=({"inputs": [[3, 4]], "scale": 5.0},))
_activation("hardtanh", "x clamped to [min, max]", aliases=("clamp",),
            attrs=[Attr("min", "float", -1.0, aliases=("min_val",)), Attr("max", "float", 1.0, aliases=("max_val",))],
            label=lambda node: f"hardtanh [{node.attrs['min']:g}, {node.attrs['max']:g}]",
            examples=({"inputs": [[3, 4]], "scale": 2.0}, {"attrs": {"min": 0.0, "max": 6.0}, "inputs": [[8]],
                                                           "scale": 5.0}))
_activation("elu", "x if x > 0 else alpha * (exp(x) - 1)", attrs=[Attr("alpha", "float", 1.0, min=0.0)],
            examples=({"inputs": [[3, 4]]}, {"attrs": {"alpha": 0.5}, "inputs": [[6]]}))
_activation("selu", "scale * elu(x, alpha) with PyTorch's constants")
_activation("gelu", "x * Phi(x) (exact, or the tanh approximation)",
            attrs=[Attr("approximate", "choice", "none", choices=("none", "tanh"))],
            label=lambda node: "gelu" + (" tanh" if node.attrs["approximate"] == "tanh" else ""),
            examples=({"inputs": [[3, 4]]}, {"attrs": {"approximate": "tanh"}, "inputs": [[6]]}))
_activation("silu", "x * sigmoid(x)", aliases=("swish",))
_activation("mish", "x * tanh(softplus(x))")
_activation("softplus", "log(1 + exp(beta x)) / beta (linear above threshold / beta)",
            attrs=[Attr("beta", "float", 1.0, min=1e-6), Attr("threshold", "float", 20.0, min=0.0)],
            examples=({"inputs": [[3, 4]]}, {"attrs": {"beta": 2.0, "threshold": 1.0}, "inputs": [[6]], "scale": 2.0}))
_activation("hardsigmoid", "relu6(x + 3) / 6", examples=({"inputs": [[3, 4]], "scale": 4.0},))
_activation("hardswish", "x * relu6(x + 3) / 6", examples=({"inputs": [[3, 4]], "scale": 4.0},))


def _prelu_infer(node, in_shapes):
    (shape,) = in_shapes
    if node.attrs["per_channel"] and not isinstance(shape[0], int):
        raise ShapeError(f"per_channel needs a fixed channel dim (axis 0), found {fmt_shape(shape)}")
    return shape


def _prelu_params(node, in_shapes):
    count = in_shapes[0][0] if node.attrs["per_channel"] else 1
    return [("weight", (count,), Init("constant", node.attrs["init"]))]


register(LayerType(
    "prelu", "activation", infer=_prelu_infer, params=_prelu_params, flops=elementwise_flops,
    attrs=[Attr("per_channel", "bool", False, doc="one slope per channel (axis 0) instead of one in all"),
           Attr("init", "float", 0.25, doc="the slopes' initial value")],
    label=lambda node: "prelu" + (" per channel" if node.attrs["per_channel"] else ""),
    examples=({"inputs": [[3, 4]]}, {"attrs": {"per_channel": True}, "inputs": [[3, 2, 2]]}),
    doc="x if x > 0 else a * x with a learned slope a (PyTorch's nn.PReLU)"))
