"""Per-sample normalisation (layernorm, groupnorm, instancenorm): the input viewed as [rows, K], each row
normalised by its own mean and biased variance, then an optional affine whose parameter index is
(i // inner) % period (layernorm: inner 1 and period K, elementwise; group and instance norm: inner = the
positions of a channel, period = the channels). A block owns one row at a time and reduces it in shared memory.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from ..device import F0, F1, MAX_BLOCKS, REDUCE_THREADS, SIMULATOR, empty, grid1d, launch
from .elementwise import flat
from .reduce import block_sum, channel_sums


@cuda.jit(cache=True)
def _row_stats(x, mean, inv_std, k, kf, eps):
    """mean and 1/sqrt(var + eps) of each row of x (k values per row); the variance from centred values."""
    part = cuda.shared.array(REDUCE_THREADS, float32)
    t = cuda.threadIdx.x
    r = cuda.blockIdx.x
    while r < mean.size:
        base = r * k
        a = F0
        j = t
        while j < k:
            a += x[base + j]
            j += cuda.blockDim.x
        part[t] = a
        m = block_sum(part, t) / kf
        a = F0
        j = t
        while j < k:
            d = x[base + j] - m
            a += d * d
            j += cuda.blockDim.x
        part[t] = a
        var = block_sum(part, t) / kf
        if t == 0:
            mean[r] = m
            inv_std[r] = F1 / math.sqrt(var + eps)
        r += cuda.gridDim.x


@cuda.jit(cache=True)
def _row_apply(x, mean, inv_std, weight, bias, xhat, y, k, inner, period, affine):
    i = cuda.grid(1)
    while i < x.size:
        r = i // k
        v = (x[i] - mean[r]) * inv_std[r]
        xhat[i] = v
        if affine:
            c = (i // inner) % period
            v = v * weight[c] + bias[c]
        y[i] = v
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _row_grad_sums(dy, xhat, weight, s1, s2, k, inner, period, affine):
    """s1[r] = sum of d and s2[r] = sum of d * xhat over row r, where d = dy * weight (the gradient of xhat)."""
    part = cuda.shared.array(REDUCE_THREADS, float32)
    t = cuda.threadIdx.x
    r = cuda.blockIdx.x
    while r < s1.size:
        base = r * k
        a = F0
        b = F0
        j = t
        while j < k:
            i = base + j
            d = dy[i] * weight[(i // inner) % period] if affine else dy[i]
            a += d
            b += d * xhat[i]
            j += cuda.blockDim.x
        part[t] = a
        total = block_sum(part, t)
        part[t] = b
        total_x = block_sum(part, t)
        if t == 0:
            s1[r] = total
            s2[r] = total_x
        r += cuda.gridDim.x


@cuda.jit(cache=True)
def _row_backward(dy, xhat, weight, inv_std, s1, s2, dx, k, kf, inner, period, affine):
    """dx = inv_std * (d - mean(d) - xhat * mean(d * xhat)) with the means over the row."""
    i = cuda.grid(1)
    while i < dy.size:
        r = i // k
        d = dy[i] * weight[(i // inner) % period] if affine else dy[i]
        dx[i] = inv_std[r] * (d - s1[r] / kf - xhat[i] * s2[r] / kf)
        i += cuda.gridsize(1)


def _row_blocks(rows: int):
    return max(1, min(rows, 2 if SIMULATOR else MAX_BLOCKS)), REDUCE_THREADS


def rownorm_forward(x, rows: int, eps: float, weight=None, bias=None, inner: int = 1, period: int = 1):
    """(y, xhat, inv_std) of x normalised in `rows` rows, with the affine weight/bias where given."""
    k = x.size // rows
    mean, inv_std = empty((rows,)), empty((rows,))
    launch(_row_stats, _row_blocks(rows), flat(x), mean, inv_std, k, np.float32(k), np.float32(eps))
    xhat, y = empty(x.shape), empty(x.shape)
    affine = weight is not None
    launch(_row_apply, grid1d(x.size), flat(x), mean, inv_std, flat(weight) if affine else mean,
           flat(bias) if affine else mean, flat(xhat), flat(y), k, int(inner), int(period), affine)
    return y, xhat, inv_std


def rownorm_backward(dy, xhat, inv_std, weight=None, inner: int = 1, period: int = 1):
    """(dx, dweight, dbias) of rownorm_forward (dweight and dbias None without an affine)."""
    rows = inv_std.size
    k = dy.size // rows
    affine = weight is not None
    w = flat(weight) if affine else inv_std
    s1, s2 = empty((rows,)), empty((rows,))
    launch(_row_grad_sums, _row_blocks(rows), flat(dy), flat(xhat), w, s1, s2, k, int(inner), int(period), affine)
    dx = empty(dy.shape)
    launch(_row_backward, grid1d(dy.size), flat(dy), flat(xhat), w, inv_std, s1, s2, flat(dx), k, np.float32(k),
           int(inner), int(period), affine)
    if not affine:
        return dx, None, None
    dbias, dweight = channel_sums(dy, period, inner, y=xhat)         # per parameter: sum dy, sum dy * xhat
    return dx, dweight.reshape(*weight.shape), dbias.reshape(*weight.shape)


__all__ = ["rownorm_backward", "rownorm_forward"]
