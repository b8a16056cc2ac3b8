"""Merges of several inputs: elementwise add and mul, concat along a per-sample axis."""
from __future__ import annotations

import numpy as np

from . import NUMPY


@NUMPY.layer("add")
class Add:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["count"] = len(inputs)
        out = inputs[0] + inputs[1]
        for x in inputs[2:]:
            out += x
        return out

    def backward(ops, ctx, grad):
        return [grad] * ctx["count"], {}


@NUMPY.layer("mul")
class Mul:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["inputs"] = inputs
        out = inputs[0] * inputs[1]
        for x in inputs[2:]:
            out *= x
        return out

    def backward(ops, ctx, grad):
        inputs = ctx["inputs"]
        out = []
        for i in range(len(inputs)):
            g = grad
            for j, x in enumerate(inputs):
                if j != i:
                    g = g * x
            out.append(g)
        return out, {}


@NUMPY.layer("concat")
class Concat:
    def forward(ops, ctx, inputs, params, attrs, train):
        axis = attrs["axis"]
        axis = axis + 1 if axis >= 0 else axis          # per-sample axis -> array axis
        ctx.update(axis=axis, sizes=[x.shape[axis] for x in inputs])
        return np.concatenate(inputs, axis=axis)

    def backward(ops, ctx, grad):
        cuts = np.cumsum(ctx["sizes"])[:-1]
        return [np.ascontiguousarray(g) for g in np.split(grad, cuts, axis=ctx["axis"])], {}
