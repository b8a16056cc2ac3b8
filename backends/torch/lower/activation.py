"""Activations: each type's PyTorch expression, written once, serves its own layer and a fused `activation:`.

An entry is `@TORCH.layer(op)` over `@activation`: the decorated function `(x, attrs) -> expression` is the
type's expression (x: the text of its input, attrs: the type's attrs, defaults filled); `lower()` applies it
to a layer's result for `activation: {type: op, ...}`.
"""
from __future__ import annotations

from . import HELPERS, TORCH, Lowering
from .common import batch_axis, call, module_call, number, simple, unless


def activation(expression, helpers: tuple = ()):
    """The lowering of an activation layer that computes `expression`; the expression (and the names of the
    HELPERS it calls) ride along, for a fused `activation:` too."""
    def lowering(node):
        return Lowering(simple(lambda ref, args: expression(args[0], node.attrs)), helpers=helpers)
    lowering.expression = expression
    lowering.helpers = helpers
    return lowering


HELPERS["binarize"] = '''
def binarize(x):
    """BIN(x): +1 where x >= 0, else -1, with the straight-through gradient 1 where |x| <= 1 (binary networks;
    torch.sign gives 0 at 0 and no gradient)."""
    passed = x * (x.abs() <= 1).to(x.dtype)
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype) + (passed - passed.detach())
'''

HELPERS["binary_weight"] = '''
def binary_weight(weight, xnor=False):
    """BIN(weight) for a `binary:` layer (its latent weight trains through the straight-through gradient);
    xnor: each output channel times its mean |w| (XNOR-Net)."""
    signs = binarize(weight)
    if not xnor:
        return signs
    return signs * weight.abs().mean(dim=tuple(range(1, weight.dim())), keepdim=True)
'''


@TORCH.layer("relu")
@activation
def relu(x, attrs):
    return f"F.relu({x})"


@TORCH.layer("leaky_relu")
@activation
def leaky_relu(x, attrs):
    slope = attrs["slope"]
    return f"F.leaky_relu({x})" if slope == 0.01 else f"F.leaky_relu({x}, {number(slope)})"   # 0.01: PyTorch's


@TORCH.layer("sigmoid")
@activation
def sigmoid(x, attrs):
    return f"torch.sigmoid({x})"


@TORCH.layer("tanh")
@activation
def tanh(x, attrs):
    return f"torch.tanh({x})"


@TORCH.layer("softmax")
@activation
def softmax(x, attrs):
    return f"F.softmax({x}, dim={batch_axis(attrs['axis'])})"


@TORCH.layer("step")
@activation
def step(x, attrs):
    return f"({x} > 0).to({x}.dtype)"


@TORCH.layer("sign")
@activation
def sign(x, attrs):
    return f"torch.sign({x})"


def _binarize(x, attrs):
    return f"binarize({x})"


TORCH.layer("binarize")(activation(_binarize, helpers=("binarize",)))


@TORCH.layer("identity")
@activation
def identity(x, attrs):
    return x


@TORCH.layer("log_softmax")
@activation
def log_softmax(x, attrs):
    return f"F.log_softmax({x}, dim={batch_axis(attrs['axis'])})"


@TORCH.layer("relu6")
@activation
def relu6(x, attrs):
    return f"F.relu6({x})"


@TORCH.layer("hardtanh")
@activation
def hardtanh(x, attrs):
    low, high = attrs["min"], attrs["max"]
    return f"F.hardtanh({x})" if (low, high) == (-1, 1) else f"F.hardtanh({x}, {number(low)}, {number(high)})"


@TORCH.layer("elu")
@activation
def elu(x, attrs):
    return call("F.elu", x, alpha=unless(attrs["alpha"], 1.0))


@TORCH.layer("selu")
@activation
def selu(x, attrs):
    return f"F.selu({x})"


@TORCH.layer("gelu")
@activation
def gelu(x, attrs):
    return call("F.gelu", x, approximate=unless(attrs["approximate"], "none", repr))


@TORCH.layer("silu")
@activation
def silu(x, attrs):
    return f"F.silu({x})"


@TORCH.layer("mish")
@activation
def mish(x, attrs):
    return f"F.mish({x})"


@TORCH.layer("softplus")
@activation
def softplus(x, attrs):
    return call("F.softplus", x, beta=unless(attrs["beta"], 1.0), threshold=unless(attrs["threshold"], 20.0))


@TORCH.layer("hardsigmoid")
@activation
def hardsigmoid(x, attrs):
    return f"F.hardsigmoid({x})"


@TORCH.layer("hardswish")
@activation
def hardswish(x, attrs):
    return f"F.hardswish({x})"


@TORCH.layer("prelu")
def prelu(node):
    """nn.PReLU: one slope, or one per channel (the batched tensor's dim 1)."""
    count = node.in_shapes[0][0] if node.attrs["per_channel"] else 1
    module = call("nn.PReLU", num_parameters=unless(count, 1), init=unless(node.attrs["init"], 0.25))
    return Lowering(simple(module_call), module)
