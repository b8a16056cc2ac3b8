"""Activations: the pointwise ones (one kernel, the type's code), identity and softmax."""
from __future__ import annotations

from ..kernels import elementwise as ew
from . import CUDA
from .common import slope


@CUDA.layer("relu", "leaky_relu", "sigmoid", "tanh", "step", "sign")
class Pointwise:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, name = inputs[0], ctx["op"]
        y = ew.activation(x, name, slope(name, attrs))
        if train:
            ctx.update(x=x, y=y, slope=slope(name, attrs))
        return y

    def backward(ops, ctx, grad):
        return [ew.activation_backward(ctx["x"], ctx["y"], grad, ctx["op"], ctx["slope"])], {}


@CUDA.layer("identity")
class Identity:
    def forward(ops, ctx, inputs, params, attrs, train):
        return inputs[0]

    def backward(ops, ctx, grad):
        return [grad], {}


@CUDA.layer("softmax")
class Softmax:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, axis = inputs[0], attrs["axis"]
        axis = axis + 1 if axis >= 0 else len(x.shape) + axis        # a per-sample axis -> the array's
        y = ew.softmax(x, axis)
        if train:
            ctx.update(y=y, axis=axis)
        return y

    def backward(ops, ctx, grad):
        return [ew.softmax_backward(ctx["y"], grad, ctx["axis"])], {}
