"""Merges of several inputs: arithmetic with NumPy broadcasting over the per-sample dims, concat along an axis.

Per-sample shapes align at the last axis while the batch axis is always the first, so an input of lower
per-sample rank gets unit axes after its batch axis (`expand`) before NumPy broadcasts; the backward sums
each input's gradient back to its own shape (`unbroadcast`).
"""
from __future__ import annotations

import numpy as np

from . import NUMPY


def expand(x, rank: int):
    """A batched array as rank `rank` (batch included), unit axes inserted after the batch axis."""
    return x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])


def unbroadcast(grad, shape):
    """grad summed over the axes on which an input of batched `shape` was broadcast, reshaped to `shape`."""
    full = (shape[0],) + (1,) * (grad.ndim - len(shape)) + tuple(shape[1:])
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, full)) if s == 1 and g != 1)
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    return np.ascontiguousarray(out.reshape(shape))


def _aligned(inputs):
    rank = max(x.ndim for x in inputs)
    return [expand(x, rank) for x in inputs]


class Arithmetic:
    """Shared forward bookkeeping: inputs aligned to one rank, shapes kept for the backward."""

    reduce = None          # the binary ufunc folded over the inputs

    @classmethod
    def forward(cls, ops, ctx, inputs, params, attrs, train):
        xs = _aligned(inputs)
        out = cls.reduce(xs[0], xs[1])
        for x in xs[2:]:
            out = cls.reduce(out, x)
        if train:
            ctx.update(xs=xs, shapes=[x.shape for x in inputs], out=out)
        return out

    @classmethod
    def backward(cls, ops, ctx, grad):
        wanted = ctx["input_grads"]
        grads = cls.local_grads(ctx, grad, wanted)
        return [unbroadcast(g, shape) if want else None
                for g, shape, want in zip(grads, ctx["shapes"], wanted)], {}


@NUMPY.layer("add")
class Add(Arithmetic):
    reduce = np.add

    def local_grads(ctx, grad, wanted):
        return [grad] * len(wanted)


@NUMPY.layer("sub")
class Sub(Arithmetic):
    reduce = np.subtract

    def local_grads(ctx, grad, wanted):
        return [grad, -grad]


@NUMPY.layer("mul")
class Mul(Arithmetic):
    reduce = np.multiply

    def local_grads(ctx, grad, wanted):
        """Each input's gradient: grad times every other input."""
        xs = ctx["xs"]
        out = []
        for i, want in enumerate(wanted):
            g = grad
            for j, x in enumerate(xs):
                if want and j != i:
                    g = g * x
            out.append(g)
        return out


@NUMPY.layer("div")
class Div(Arithmetic):
    reduce = np.divide

    def local_grads(ctx, grad, wanted):
        """d(a/b) = da / b - db * (a/b) / b."""
        quotient = grad / ctx["xs"][1]
        return [quotient, -quotient * ctx["out"] if wanted[1] else None]


class Extreme(Arithmetic):
    """maximum/minimum: the gradient goes to the input holding the extreme; inputs tied for it share it
    equally (torch.maximum's rule for two inputs, made symmetric for more)."""

    def local_grads(ctx, grad, wanted):
        holds = [x == ctx["out"] for x in ctx["xs"]]
        share = grad / sum(h.astype(grad.dtype) for h in holds)
        return [share * h if want else None for h, want in zip(holds, wanted)]


@NUMPY.layer("maximum")
class Maximum(Extreme):
    reduce = np.maximum


@NUMPY.layer("minimum")
class Minimum(Extreme):
    reduce = np.minimum


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
