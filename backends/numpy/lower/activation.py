"""Activation kernels (also run for a fused `activation:`, with that activation's attrs)."""
from __future__ import annotations

import math

import numpy as np

from .. import fastexp
from ..kernels import erf
from ..packed import binarize
from . import NUMPY

SELU_ALPHA = 1.6732632423543772848170429916717      # PyTorch's (and the SELU paper's) constants
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_HALF = math.sqrt(0.5)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
GELU_CUBIC = 0.044715                                # the tanh approximation's cubic coefficient
HARDSIGMOID_SLOPE = float(np.float32(1 / 6))         # PyTorch's backward uses 1/6 in float32 at every precision


def sigmoid(x):
    """1 / (1 + exp(-x)) in a fresh array, computed in place over it."""
    out = np.empty_like(x)
    np.negative(x, out=out)
    with np.errstate(over="ignore"):     # exp(-x) = inf for x below about -88 (float32): the sigmoid is then 0
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
        x = inputs[0]        # float32: fastexp's vectorised loop (NumPy's float32 exp runs scalar without AVX-512)
        ctx["out"] = out = fastexp.sigmoid(x) if x.dtype == np.float32 else sigmoid(x)
        return out

    def backward(ops, ctx, grad):
        out = ctx["out"]
        return [grad * out * (1 - out)], {}


@NUMPY.layer("tanh")
class Tanh:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["out"] = out = fastexp.tanh(inputs[0])
        return out

    def backward(ops, ctx, grad):
        out = ctx["out"]
        return [grad * (1 - out * out)], {}


def batch_axis(axis: int) -> int:
    """A per-sample axis as an axis of the batched array."""
    return axis + 1 if axis >= 0 else axis


@NUMPY.layer("softmax")
class Softmax:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        axis = batch_axis(attrs["axis"])
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


@NUMPY.layer("binarize")
class Binarize:
    """BIN(x) = +1 where x >= 0, else -1; the straight-through gradient passes where |x| <= 1."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        if train:
            ctx["inside"] = np.abs(x) <= 1
        return binarize(x)

    def backward(ops, ctx, grad):
        return [grad * ctx["inside"]], {}


@NUMPY.layer("identity")
class Identity:
    def forward(ops, ctx, inputs, params, attrs, train):
        return inputs[0]

    def backward(ops, ctx, grad):
        return [grad], {}


class Pointwise:
    """An elementwise activation: a subclass gives value(x, attrs) and derivative(x, y, attrs), dy/dx from the
    input x and the output y."""

    @classmethod
    def forward(cls, ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        y = cls.value(x, attrs)
        ctx.update(x=x, y=y, attrs=attrs)
        return y

    @classmethod
    def backward(cls, ops, ctx, grad):
        return [grad * cls.derivative(ctx["x"], ctx["y"], ctx["attrs"])], {}


@NUMPY.layer("relu6")
class Relu6(Pointwise):
    def value(x, attrs):
        return np.clip(x, 0, 6)

    def derivative(x, y, attrs):
        return (x > 0) & (x < 6)


@NUMPY.layer("hardtanh")
class Hardtanh(Pointwise):
    def value(x, attrs):
        return np.clip(x, attrs["min"], attrs["max"])

    def derivative(x, y, attrs):
        return (x > attrs["min"]) & (x < attrs["max"])


@NUMPY.layer("elu")
class Elu(Pointwise):
    def value(x, attrs):
        return np.where(x > 0, x, attrs["alpha"] * np.expm1(np.minimum(x, 0)))

    def derivative(x, y, attrs):
        return np.where(x > 0, 1, y + attrs["alpha"])          # alpha * exp(x) below zero


@NUMPY.layer("selu")
class Selu(Pointwise):
    def value(x, attrs):
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))

    def derivative(x, y, attrs):
        return np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)


@NUMPY.layer("gelu")
class Gelu(Pointwise):
    def value(x, attrs):
        if attrs["approximate"] == "tanh":
            return 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x ** 3)))
        return 0.5 * x * (1 + erf(x * SQRT_HALF))

    def derivative(x, y, attrs):
        if attrs["approximate"] == "tanh":
            t = np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x ** 3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * x * x)
        return 0.5 * (1 + erf(x * SQRT_HALF)) + x * np.exp(-0.5 * x * x) * (SQRT_HALF / math.sqrt(math.pi))


@NUMPY.layer("silu")
class Silu(Pointwise):
    def value(x, attrs):
        return x * sigmoid(x)

    def derivative(x, y, attrs):
        s = sigmoid(x)
        return s * (1 + x * (1 - s))


@NUMPY.layer("mish")
class Mish(Pointwise):
    def value(x, attrs):
        return x * np.tanh(np.logaddexp(0, x))

    def derivative(x, y, attrs):
        t = np.tanh(np.logaddexp(0, x))
        return t + x * (1 - t * t) * sigmoid(x)


@NUMPY.layer("softplus")
class Softplus(Pointwise):
    def value(x, attrs):
        bx = attrs["beta"] * x
        return np.where(bx > attrs["threshold"], x, np.logaddexp(0, bx) / attrs["beta"])

    def derivative(x, y, attrs):
        bx = attrs["beta"] * x
        return np.where(bx > attrs["threshold"], 1, sigmoid(bx))


@NUMPY.layer("hardsigmoid")
class Hardsigmoid(Pointwise):
    def value(x, attrs):
        return np.clip(x + 3, 0, 6) / 6

    def derivative(x, y, attrs):
        return ((x > -3) & (x < 3)).astype(x.dtype) * HARDSIGMOID_SLOPE


@NUMPY.layer("hardswish")
class Hardswish(Pointwise):
    def value(x, attrs):
        return x * np.clip(x + 3, 0, 6) / 6

    def derivative(x, y, attrs):
        return np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1))


@NUMPY.layer("prelu")
class Prelu:
    """x if x > 0 else a * x; one slope a, or one per channel (axis 1 of the batch)."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        slope = params["weight"].reshape(-1, *(1,) * (x.ndim - 2))
        ctx.update(x=x, slope=slope)
        return np.where(x > 0, x, slope * x)

    def backward(ops, ctx, grad):
        x, slope = ctx["x"], ctx["slope"]
        below = np.where(x > 0, 0, grad * x)
        weight_grad = below.sum(axis=(0, *range(2, x.ndim))) if slope.size > 1 else below.sum().reshape(1)
        return [np.where(x > 0, grad, slope * grad)], {"weight": weight_grad}


@NUMPY.layer("log_softmax")
class LogSoftmax:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, axis = inputs[0], batch_axis(attrs["axis"])
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.update(out=out, axis=axis)
        return out

    def backward(ops, ctx, grad):
        out, axis = ctx["out"], ctx["axis"]
        return [grad - np.exp(out) * grad.sum(axis=axis, keepdims=True)], {}
