"""add, mul and concat of two or more inputs."""
from __future__ import annotations

from ..kernels import elementwise as ew
from . import CUDA


@CUDA.layer("add")
class Add:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["count"] = len(inputs)
        out = ew.add(inputs[0], inputs[1])
        for x in inputs[2:]:
            ew.add(out, x, out=out)
        return out

    def backward(ops, ctx, grad):
        return [grad] * ctx["count"], {}


@CUDA.layer("mul")
class Mul:
    def forward(ops, ctx, inputs, params, attrs, train):
        ctx["inputs"] = inputs
        out = ew.mul(inputs[0], inputs[1])
        for x in inputs[2:]:
            ew.mul(out, x, out=out)
        return out

    def backward(ops, ctx, grad):
        """Each input's gradient: grad times every other input."""
        inputs = ctx["inputs"]
        grads = []
        for i in range(len(inputs)):
            g = grad
            for j, x in enumerate(inputs):
                if j != i:
                    g = ew.mul(g, x)
            grads.append(g)
        return grads, {}


@CUDA.layer("concat")
class Concat:
    def forward(ops, ctx, inputs, params, attrs, train):
        axis = attrs["axis"]
        axis = axis + 1 if axis >= 0 else len(inputs[0].shape) + axis     # a per-sample axis -> the array's
        sizes = [x.shape[axis] for x in inputs]
        shape = list(inputs[0].shape)
        shape[axis] = sum(sizes)
        ctx.update(axis=axis, sizes=sizes)
        return ew.concat(inputs, tuple(shape), axis)

    def backward(ops, ctx, grad):
        return ew.split(grad, ctx["sizes"], ctx["axis"]), {}
