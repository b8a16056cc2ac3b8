"""Activations: each type's PyTorch expression, written once, serves its own layer and a fused `activation:`.

An entry is `@TORCH.layer(op)` over `@activation`: the decorated function `(x, attrs) -> expression` is the
type's expression (x: the text of its input, attrs: the type's attrs, defaults filled); `lower()` applies it
to a layer's result for `activation: {type: op, ...}`.
"""
from __future__ import annotations

from . import TORCH, Lowering
from .common import batch_axis, number, simple


def activation(expression):
    """The lowering of an activation layer that computes `expression`; the expression rides along."""
    def lowering(node):
        return Lowering(simple(lambda ref, args: expression(args[0], node.attrs)))
    lowering.expression = expression
    return lowering


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


@TORCH.layer("identity")
@activation
def identity(x, attrs):
    return x
