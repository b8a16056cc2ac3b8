"""Broadcasting kernels: binary element-wise ops of arrays of different shapes, and sums back to a shape.

Shapes are batched and of equal rank (unit axes inserted where an input's rank is lower, see `aligned`);
an input is read through strides that are 0 on its broadcast axes, so nothing is materialised. Shapes
and strides reach the kernels as int tuples (one compilation per rank).
"""
from __future__ import annotations

from numba import cuda

from ..device import F0, F1, empty, grid1d, launch
from .elementwise import flat

CODES = {"add": 0, "sub": 1, "mul": 2, "div": 3, "maximum": 4, "minimum": 5, "equal": 6, "first": 7}


@cuda.jit(device=True)
def _apply(a, b, code):
    if code == 0:
        return a + b
    if code == 1:
        return a - b
    if code == 2:
        return a * b
    if code == 3:
        return a / b
    if code == 4:
        return max(a, b)
    if code == 5:
        return min(a, b)
    if code == 6:
        return F1 if a == b else F0
    return a


@cuda.jit(cache=True)
def _binary(a, b, out, shape, stride_a, stride_b, code):
    """out[i] = a[.] op b[.], a and b read through their broadcast strides at out's index i."""
    i = cuda.grid(1)
    while i < out.size:
        rest = i
        ia = 0
        ib = 0
        for axis in range(len(shape) - 1, -1, -1):
            coord = rest % shape[axis]
            rest //= shape[axis]
            ia += coord * stride_a[axis]
            ib += coord * stride_b[axis]
        out[i] = _apply(a[ia], b[ib], code)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _reduce_to(x, out, shape, target):
    """out (of shape target) = x (of shape) summed over the axes where target is 1 and shape is not."""
    i = cuda.grid(1)
    per = x.size // out.size
    while i < out.size:
        rest = i
        base = 0
        step = 1
        for axis in range(len(shape) - 1, -1, -1):
            if target[axis] == shape[axis]:
                base += (rest % target[axis]) * step
                rest //= target[axis]
            step *= shape[axis]
        total = F0
        for m in range(per):
            j = base
            rest = m
            step = 1
            for axis in range(len(shape) - 1, -1, -1):
                if target[axis] != shape[axis]:
                    j += (rest % shape[axis]) * step
                    rest //= shape[axis]
                step *= shape[axis]
            total += x[j]
        out[i] = total
        i += cuda.gridsize(1)


def aligned_shape(shape, rank: int) -> tuple:
    """A batched shape as rank `rank`, unit axes inserted after the batch axis."""
    return (shape[0], *(1,) * (rank - len(shape)), *shape[1:])


def broadcast_shapes(*shapes) -> tuple:
    """The broadcast of batched shapes (aligned first)."""
    rank = max(len(s) for s in shapes)
    return tuple(max(sizes) for sizes in zip(*(aligned_shape(s, rank) for s in shapes)))


def _strides(shape, out_shape) -> tuple:
    """Element strides of a contiguous array of `shape` read at `out_shape`'s indices (0 where broadcast)."""
    shape = aligned_shape(shape, len(out_shape))
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step if size != 1 else 0)
        step *= size
    return tuple(reversed(strides))


def binary(a, b, op: str, out_shape=None, out=None):
    """a op b broadcast to `out_shape` (default: the broadcast of both); `out` may alias an input of that
    shape."""
    out_shape = tuple(out_shape or broadcast_shapes(a.shape, b.shape))
    out = empty(out_shape) if out is None else out
    launch(_binary, grid1d(out.size), flat(a), flat(b), flat(out), out_shape, _strides(a.shape, out_shape),
           _strides(b.shape, out_shape), CODES[op])
    return out


def broadcast_to(x, shape):
    """x repeated along its broadcast axes to `shape`, a new array (x itself when the shape is already that)."""
    shape = tuple(shape)
    return x if tuple(x.shape) == shape else binary(x, x, "first", shape)


def reduce_to(x, shape):
    """x summed over the axes along which an array of batched `shape` was broadcast to x.shape, as `shape`;
    x itself when nothing was broadcast."""
    target = aligned_shape(tuple(shape), len(x.shape))
    if target == tuple(x.shape):
        return x.reshape(tuple(shape)) if tuple(shape) != tuple(x.shape) else x
    out = empty(tuple(shape))
    launch(_reduce_to, grid1d(out.size), flat(x), flat(out), tuple(x.shape), target)
    return out


__all__ = ["CODES", "aligned_shape", "binary", "broadcast_shapes", "broadcast_to", "reduce_to"]
