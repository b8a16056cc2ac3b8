"""Shape layers: views (flatten, reshape), permutations (transpose, pixel_shuffle) and per-axis gathers
(slice, split, pad, upsample) whose index maps come from backends/runtime/shape_maps.py."""
from __future__ import annotations

import numpy as np

from ...runtime.shape_maps import axis_maps, inverse, permutation
from . import NUMPY


class _View:
    """A reshape of each sample: the gradient takes the input's shape back."""

    def backward(ops, ctx, grad):
        return [grad.reshape(ctx["x_shape"])], {}


@NUMPY.layer("flatten")
class Flatten(_View):
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], -1)


@NUMPY.layer("reshape")
class Reshape(_View):
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], *attrs["shape"])


@NUMPY.layer("transpose", "pixel_shuffle")
class Permute:
    """Reshape, permute the axes, reshape; the gradient goes back through the inverse permutation."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        split, perm, out = permutation(ctx["op"], attrs, x.shape)
        ctx.update(x_shape=x.shape, permuted=tuple(split[a] for a in perm), perm=perm)
        return np.ascontiguousarray(x.reshape(split).transpose(perm)).reshape(out)

    def backward(ops, ctx, grad):
        g = grad.reshape(ctx["permuted"]).transpose(inverse(ctx["perm"]))
        return [np.ascontiguousarray(g).reshape(ctx["x_shape"])], {}


@NUMPY.layer("slice", "split", "pad", "upsample")
class AxisGather:
    """Gather along one axis after the other; the gradient gathers back through the transposed maps."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["maps"] = axis_maps(ctx["op"], attrs, x.shape[1:])
        for m in ctx["maps"]:
            x = gather(x, m)
        return x

    def backward(ops, ctx, grad):
        for m in reversed(ctx["maps"]):
            grad = gather(grad, m.transposed)
        return [grad], {}


def gather(x: np.ndarray, m) -> np.ndarray:
    """y[..., j, ...] = sum_t weight[t, j] x[..., index[t, j], ...] along batched axis m.axis + 1 (fill for -1)."""
    axis = m.axis + 1
    broadcast = (-1,) + (1,) * (x.ndim - axis - 1)         # a value per position of the axis, over the rest
    out = None
    for t in range(m.index.shape[0]):
        part = np.take(x, np.maximum(m.index[t], 0), axis=axis)
        if m.weight is not None:
            part *= m.weight[t].astype(x.dtype).reshape(broadcast)
        out = part if out is None else np.add(out, part, out=out)
    missing = m.index[0] < 0
    if missing.any():
        out[(slice(None),) * axis + (missing,)] = m.fill
    return out
