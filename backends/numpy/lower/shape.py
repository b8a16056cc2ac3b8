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
    """Gather along one axis after the other; backward scatters (sums) the gradient back in reverse."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        maps = axis_maps(ctx["op"], attrs, x.shape[1:])
        ctx["maps"] = maps
        for m in maps:
            x = gather(x, m)
        return x

    def backward(ops, ctx, grad):
        for m in reversed(ctx["maps"]):
            grad = scatter(grad, m)
        return [grad], {}


def _along(m, ndim: int, values: np.ndarray, dtype) -> np.ndarray:
    """`values` (one per position of the map's axis) shaped to broadcast along that axis of a batched array."""
    return values.astype(dtype, copy=False).reshape((-1,) + (1,) * (ndim - m.axis - 2))


def gather(x: np.ndarray, m) -> np.ndarray:
    """y[..., j, ...] = sum_t weight[t, j] x[..., index[t, j], ...] along batched axis m.axis + 1 (fill for -1)."""
    axis = m.axis + 1
    out = None
    for t in range(m.index.shape[0]):
        part = np.take(x, np.maximum(m.index[t], 0), axis=axis)
        if m.weight is not None:
            part *= _along(m, x.ndim, m.weight[t], x.dtype)
        out = part if out is None else np.add(out, part, out=out)
    missing = m.index[0] < 0
    if missing.any():
        out[(slice(None),) * axis + (missing,)] = m.fill
    return out


def scatter(grad: np.ndarray, m) -> np.ndarray:
    """The gradient of `gather`: each output position's gradient, weighted, summed into the positions it read."""
    axis = m.axis + 1
    shape = list(grad.shape)
    shape[axis] = m.in_len
    dx = np.zeros(shape, grad.dtype)
    for t in range(m.index.shape[0]):
        g = grad if m.weight is None else grad * _along(m, grad.ndim, m.weight[t], grad.dtype)
        index = m.index[t]
        source = np.flatnonzero(index >= 0)                  # fill positions read no input
        order = np.argsort(index[source], kind="stable")
        source, target = source[order], index[source][order]
        targets, starts = np.unique(target, return_index=True)
        sums = np.add.reduceat(np.take(g, source, axis=axis), starts, axis=axis)
        dx[(slice(None),) * axis + (targets,)] += sums
    return dx
