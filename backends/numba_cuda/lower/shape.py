"""Shape layers: views (flatten, reshape), permutations (transpose, pixel_shuffle) and per-axis gathers
(slice, split, pad, upsample) whose index maps come from backends/runtime/shape_maps.py."""
from __future__ import annotations

import numpy as np

from ...runtime.shape_maps import axis_maps, inverse, permutation
from ..kernels import shape as kernels
from . import CUDA


@CUDA.layer("flatten", "reshape")
class View:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        batch, per_sample = x.shape[0], x.size // x.shape[0]
        ctx["x_shape"] = x.shape
        if ctx["op"] == "flatten":
            return x.reshape(batch, per_sample)
        shape = list(attrs["shape"])
        if -1 in shape:
            shape[shape.index(-1)] = per_sample // int(np.prod([d for d in shape if d != -1]))
        return x.reshape(batch, *shape)

    def backward(ops, ctx, grad):
        return [grad.reshape(*ctx["x_shape"])], {}


@CUDA.layer("transpose", "pixel_shuffle")
class Permute:
    """Reshape, permute the axes, reshape; the gradient goes back through the inverse permutation."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        split, perm, out = permutation(ctx["op"], attrs, x.shape)
        ctx.update(x_shape=x.shape, permuted=tuple(split[a] for a in perm), perm=perm)
        return kernels.permute(x.reshape(*split), perm).reshape(*out)

    def backward(ops, ctx, grad):
        return [kernels.permute(grad.reshape(*ctx["permuted"]), inverse(ctx["perm"])).reshape(*ctx["x_shape"])], {}


@CUDA.layer("slice", "split", "pad", "upsample")
class AxisGather:
    """Gather along one axis after the other; the gradient gathers back through the transposed maps."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["maps"] = axis_maps(ctx["op"], attrs, x.shape[1:])
        for m in ctx["maps"]:
            x = kernels.axis_gather(x, m)
        return x

    def backward(ops, ctx, grad):
        for m in reversed(ctx["maps"]):
            grad = kernels.axis_gather(grad, m.transposed)
        return [grad], {}
