"""Shape kernels: permutations of axes, and weighted gathers along one axis (slice, split, pad, upsample).

A gather along an axis is a sparse matrix in CSR form: output position j along the axis is the sum of
vals[e] * input[cols[e]] over row j's entries, or the fill value where the row is empty (constant
padding). Its gradient is the transposed matrix applied the same way, so both directions are plain
gathers: no atomics, deterministic sums. The matrices come from the host-side index maps
(backends/runtime/shape_maps.AxisMap), uploaded once per map.
"""
from __future__ import annotations

import weakref

import numpy as np
from numba import cuda

from ..device import F0, empty, grid1d, launch, to_device
from .elementwise import flat


@cuda.jit
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


@cuda.jit
def _axis_gather(x, y, offsets, cols, vals, out_len, in_len, inner, fill):
    """y as (outer, out_len, inner) from x as (outer, in_len, inner) through one CSR matrix along the middle axis."""
    i = cuda.grid(1)
    while i < y.size:
        k = i % inner
        j = (i // inner) % out_len
        base = (i // (inner * out_len)) * in_len * inner + k
        start, end = offsets[j], offsets[j + 1]
        total = fill if start == end else F0
        for e in range(start, end):
            total += vals[e] * x[base + cols[e] * inner]
        y[i] = total
        i += cuda.gridsize(1)


def permute(x, perm):
    """The axes of a contiguous device array in the order `perm` (a new contiguous array)."""
    strides = [int(np.prod(x.shape[d + 1:], dtype=np.int64)) for d in range(len(x.shape))]
    shape = tuple(int(x.shape[a]) for a in perm)
    y = empty(shape)
    launch(_permute, grid1d(y.size), flat(x), flat(y), shape, tuple(strides[a] for a in perm))
    return y


class _Csr:
    """One direction of an axis map on the device: row offsets, column indices and weights."""

    def __init__(self, rows, cols, vals, n_rows: int):
        order = np.lexsort((cols, rows))
        self.offsets = to_device(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]), np.int32)
        self.cols = to_device(cols[order] if cols.size else np.zeros(1), np.int32)
        self.vals = to_device(vals[order] if vals.size else np.zeros(1))
        self.n_rows = n_rows


class _DeviceMap:
    """An AxisMap's gather (rows: output positions) and its transpose (rows: input positions)."""

    def __init__(self, m):
        taps, out_len = m.index.shape
        weight = m.weight if m.weight is not None else np.ones((taps, out_len))
        out_pos = np.broadcast_to(np.arange(out_len), (taps, out_len))
        read = m.index >= 0
        index, out_pos, weight = m.index[read], out_pos[read], weight[read]
        self.forward = _Csr(out_pos, index, weight, out_len)
        self.backward = _Csr(index, out_pos, weight, m.in_len)


_DEVICE_MAPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _device_map(m) -> _DeviceMap:
    found = _DEVICE_MAPS.get(m)
    if found is None:
        found = _DEVICE_MAPS[m] = _DeviceMap(m)
    return found


def _apply(x, csr, axis: int, in_len: int, fill: float):
    shape = list(x.shape)
    shape[axis] = csr.n_rows
    y = empty(tuple(shape))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    launch(_axis_gather, grid1d(y.size), flat(x), flat(y), csr.offsets, csr.cols, csr.vals, csr.n_rows, in_len,
           inner, float(fill))
    return y


def axis_gather(x, m):
    """The AxisMap `m` applied to a batched device array (along array axis m.axis + 1)."""
    return _apply(x, _device_map(m).forward, m.axis + 1, m.in_len, m.fill)


def axis_scatter(grad, m):
    """The gradient of axis_gather: every output position's gradient summed into the positions it read."""
    return _apply(grad, _device_map(m).backward, m.axis + 1, m.out_len, 0.0)


__all__ = ["axis_gather", "axis_scatter", "permute"]
