"""Shape kernels: permutations of axes, and weighted gathers along one axis (slice, split, pad, upsample).

A gather reads the host-side index maps of backends/runtime/shape_maps.py (an AxisMap, uploaded once per
map); the gradient is the gather through the map's transposed map, so both directions are plain gathers:
no atomics, deterministic sums.
"""
from __future__ import annotations

import weakref

import numpy as np
from numba import cuda

from ..device import F0, empty, grid1d, launch, to_device
from .elementwise import flat


@cuda.jit(cache=True)
def _permute(x, y, shape, strides):
    """y[i] (C order over `shape`) = x[sum_d coord_d * strides[d]]."""
    i = cuda.grid(1)
    while i < y.size:
        rest = i
        offset = 0
        for d in range(len(shape) - 1, -1, -1):
            offset += (rest % shape[d]) * strides[d]
            rest //= shape[d]
        y[i] = x[offset]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _axis_gather(x, y, index, weight, taps, out_len, in_len, inner, fill):
    """y as (outer, out_len, inner) from x as (outer, in_len, inner): y[., j, .] = sum_t weight[t, j] x[., index[t, j], .],
    or `fill` where index[0, j] is -1."""
    i = cuda.grid(1)
    while i < y.size:
        k = i % inner
        j = (i // inner) % out_len
        base = (i // (inner * out_len)) * in_len * inner + k
        if index[j] < 0:
            total = fill
        else:
            total = F0
            for t in range(taps):
                total += weight[t * out_len + j] * x[base + index[t * out_len + j] * inner]
        y[i] = total
        i += cuda.gridsize(1)


def permute(x, perm):
    """The axes of a contiguous device array in the order `perm` (a new contiguous array)."""
    strides = [int(np.prod(x.shape[d + 1:], dtype=np.int64)) for d in range(len(x.shape))]
    shape = tuple(int(x.shape[a]) for a in perm)
    y = empty(shape)
    launch(_permute, grid1d(y.size), flat(x), flat(y), shape, tuple(strides[a] for a in perm))
    return y


_DEVICE_MAPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _on_device(m):
    """(index, weight) of an AxisMap as flat int32 and float32 device arrays, uploaded on first use."""
    found = _DEVICE_MAPS.get(m)
    if found is None:
        weight = np.ones(m.index.shape) if m.weight is None else m.weight
        found = _DEVICE_MAPS[m] = (to_device(m.index.reshape(-1), np.int32), to_device(weight.reshape(-1)))
    return found


def axis_gather(x, m):
    """The AxisMap `m` applied to a batched device array (along array axis m.axis + 1); a new array."""
    axis = m.axis + 1
    shape = (*x.shape[:axis], m.out_len, *x.shape[axis + 1:])
    y = empty(shape)
    index, weight = _on_device(m)
    launch(_axis_gather, grid1d(y.size), flat(x), flat(y), index, weight, m.index.shape[0], m.out_len, m.in_len,
           int(np.prod(shape[axis + 1:], dtype=np.int64)), float(m.fill))
    return y


__all__ = ["axis_gather", "permute"]
