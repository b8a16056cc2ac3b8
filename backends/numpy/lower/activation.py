"""Activation kernels (also run for a fused `activation:`, with that activation's attrs)."""
from __future__ import annotations

import numpy as np

from . import NUMPY


def sigmoid(x):
    """1 / (1 + exp(-x)) in a fresh array, computed in place over it."""
    out = np.empty_like(x)
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


@NUMPY.layer("relu")
class Relu:
    def forward(ops, ctx, inputs, params, attrs, train):
        out = np.maximum(inputs[0], 0)
        ctx["out"] = out
        return out

    def backward(ops, ctx, grad):
        return [grad * (ctx["out"] > 0)], {}


@NUMPY.layer("leaky_relu")
class LeakyRelu:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, slope = inputs[0], attrs["slope"]
        ctx.update(positive=x > 0, slope=slope)
        return np.where(x > 0, x, x * slope)

    def backward(ops, ctx, grad):
        return [np.where(ctx["positive"], grad, grad * ctx["slope"])], {}


@NUMPY.layer("sigmoid")
class Sigmoid:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["out"] = out = sigmoid(inputs[0])
        return out

    def backward(ops, ctx, grad):
        out = ctx["out"]
        return [grad * out * (1 - out)], {}


@NUMPY.layer("tanh")
class Tanh:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["out"] = out = np.tanh(inputs[0])
        return out

    def backward(ops, ctx, grad):
        out = ctx["out"]
        return [grad * (1 - out * out)], {}


@NUMPY.layer("softmax")
class Softmax:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        axis = attrs["axis"]
        axis = axis + 1 if axis >= 0 else axis          # per-sample axis -> array axis
        shifted = np.exp(x - x.max(axis=axis, keepdims=True))
        out = shifted / shifted.sum(axis=axis, keepdims=True)
        ctx.update(out=out, axis=axis)
        return out

    def backward(ops, ctx, grad):
        out, axis = ctx["out"], ctx["axis"]
        return [out * (grad - (grad * out).sum(axis=axis, keepdims=True))], {}


class _Flat:
    """A piecewise-constant activation: zero gradient everywhere."""

    def backward(ops, ctx, grad):
        return [np.zeros_like(grad)], {}


@NUMPY.layer("step")
class Step(_Flat):
    def forward(ops, ctx, inputs, params, attrs, train):
        return (inputs[0] > 0).astype(inputs[0].dtype)


@NUMPY.layer("sign")
class Sign(_Flat):
    def forward(ops, ctx, inputs, params, attrs, train):
        return np.sign(inputs[0])


@NUMPY.layer("identity")
class Identity:
    def forward(ops, ctx, inputs, params, attrs, train):
        return inputs[0]

    def backward(ops, ctx, grad):
        return [grad], {}
