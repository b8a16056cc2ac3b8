"""Reductions: per-channel sums (bias and batchnorm gradients, batch statistics) and sums of squares.

A block owns one channel at a time and its threads stride over the (outer, inner) positions of
that channel, then combine their partial sums with a shared-memory tree.
"""
from __future__ import annotations

from numba import cuda, float32

from ..device import F0, MAX_BLOCKS, REDUCE_THREADS, SIMULATOR, empty, launch
from .elementwise import flat


@cuda.jit(cache=True)
def _channel_sums(x, mx, y, my, out1, out2, outer, channels, inner):
    """out1[c] = sum (x - mx[c]); out2[c] = sum (x - mx[c]) * (y - my[c]) over the (outer, inner) axes."""
    s1 = cuda.shared.array(REDUCE_THREADS, float32)
    s2 = cuda.shared.array(REDUCE_THREADS, float32)
    t = cuda.threadIdx.x
    c = cuda.blockIdx.x
    count = outer * inner
    while c < channels:
        a = F0
        b = F0
        j = t
        while j < count:
            k = ((j // inner) * channels + c) * inner + j % inner
            d = x[k] - mx[c]
            a += d
            b += d * (y[k] - my[c])
            j += cuda.blockDim.x
        s1[t] = a
        s2[t] = b
        cuda.syncthreads()
        half = REDUCE_THREADS // 2
        while half > 0:
            if t < half:
                s1[t] += s1[t + half]
                s2[t] += s2[t + half]
            cuda.syncthreads()
            half //= 2
        if t == 0:
            out1[c] = s1[0]
            out2[c] = s2[0]
        cuda.syncthreads()
        c += cuda.gridDim.x


@cuda.jit(device=True)
def block_sum(part, t):
    """The sum of the shared array `part`, in which every thread of the block has written its slot t."""
    cuda.syncthreads()
    half = REDUCE_THREADS // 2
    while half > 0:
        if t < half:
            part[t] += part[t + half]
        cuda.syncthreads()
        half //= 2
    total = part[0]
    cuda.syncthreads()              # every thread has read the total before the slots are written again
    return total


@cuda.jit(cache=True)
def _sum_squares(x, out):
    part = cuda.shared.array(REDUCE_THREADS, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    a = F0
    while i < x.size:
        a += x[i] * x[i]
        i += cuda.gridsize(1)
    part[t] = a
    total = block_sum(part, t)
    if t == 0:
        cuda.atomic.add(out, 0, total)


def _blocks(n: int) -> int:
    return max(1, min(n, 2 if SIMULATOR else MAX_BLOCKS))


def channel_sums(x, channels: int, inner: int, mx=None, y=None, my=None):
    """(sum of x - mx, sum of (x - mx)(y - my)) per channel of x viewed as (outer, channels, inner)."""
    from .elementwise import zeros
    outer = x.size // (channels * inner)
    mx = zeros((channels,)) if mx is None else mx
    y = x if y is None else y
    my = mx if my is None else my
    out1, out2 = empty((channels,)), empty((channels,))
    launch(_channel_sums, (_blocks(channels), REDUCE_THREADS), flat(x), mx, flat(y), my, out1, out2, outer, channels,
           inner)
    return out1, out2


def sum_squares(x) -> float:
    from .elementwise import zeros
    out = zeros((1,))
    launch(_sum_squares, (_blocks(-(-x.size // REDUCE_THREADS)), REDUCE_THREADS), flat(x), out)
    return float(out.copy_to_host()[0])


__all__ = ["channel_sums", "sum_squares"]
