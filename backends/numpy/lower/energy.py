"""Energy-model layers unrolled into a feed-forward net: rbm (hidden means given the visible units) and the
tied decoder that borrows an rbm's weight."""
from __future__ import annotations

import numpy as np

from . import NUMPY
from .activation import sigmoid
from .dense import Linear


@NUMPY.layer("rbm")
class Rbm:
    def forward(ops, ctx, inputs, params, attrs, train):
        pre = Linear.forward(ops, ctx, inputs, {"weight": params["weight"], "bias": params["bias"]}, attrs, train)
        units = attrs["hidden_units"]
        ctx["units"] = units
        ctx["visible_bias"] = params["visible_bias"]
        if units == "bernoulli":
            out = sigmoid(pre)
        elif units == "relu":
            out = np.maximum(pre, 0)
        else:
            out = pre
        ctx["out"] = out
        return out

    def backward(ops, ctx, grad):
        units, out = ctx["units"], ctx["out"]
        if units == "bernoulli":
            grad = grad * out * (1 - out)
        elif units == "relu":
            grad = grad * (out > 0)
        grad_inputs, grads = Linear.backward(ops, ctx, grad)
        grads["visible_bias"] = np.zeros_like(ctx["visible_bias"])
        return grad_inputs, grads


@NUMPY.layer("tied")
class Tied:
    """x W + visible bias, with W (hidden, visible) borrowed from an rbm layer (the executor passes it)."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        if train:
            ctx.update(x=x, weight=weight)
        return x @ weight + params["bias"]

    def backward(ops, ctx, grad):
        return [grad @ ctx["weight"].T], {"weight": ctx["x"].T @ grad, "bias": grad.sum(axis=0)}
