"""Attention helpers around the gemm: moving heads between [N, T, C] and [N * H, T, D], and the causal mask."""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..device import empty, grid1d, launch
from .elementwise import flat


@cuda.jit(cache=True)
def _heads(wide, split, steps, heads, depth, columns, offset, to_split):
    """split[n * H + h, t, d] <-> wide[n, t, offset + h * D + d] (wide is [N, T, columns])."""
    i = cuda.grid(1)
    while i < split.size:
        d = i % depth
        t = (i // depth) % steps
        h = (i // (depth * steps)) % heads
        n = i // (depth * steps * heads)
        j = (n * steps + t) * columns + offset + h * depth + d
        if to_split:
            split[i] = wide[j]
        else:
            wide[j] = split[i]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _causal(scores, queries, keys, value):
    """scores[z, i, j] = value where key j comes after query i."""
    k = cuda.grid(1)
    while k < scores.size:
        if k % keys > (k // keys) % queries:
            scores[k] = value
        k += cuda.gridsize(1)


def split_heads(wide, heads: int, offset: int, width: int):
    """Columns offset .. offset + width of wide [N, T, C] as [N * heads, T, width / heads]."""
    n, steps, columns = wide.shape
    split = empty((n * heads, steps, width // heads))
    launch(_heads, grid1d(split.size), flat(wide), flat(split), steps, heads, width // heads, columns, offset, True)
    return split


def merge_heads(split, heads: int, wide=None, offset: int = 0):
    """[N * heads, T, D] written into columns offset .. offset + heads * D of wide [N, T, C] (a new [N, T, H * D]
    by default); returns wide."""
    z, steps, depth = split.shape
    wide = empty((z // heads, steps, heads * depth)) if wide is None else wide
    launch(_heads, grid1d(split.size), flat(wide), flat(split), steps, heads, depth, wide.shape[2], offset, False)
    return wide


def causal_mask(scores):
    """scores [Z, T, S] with every key after its query set to -inf, in place."""
    launch(_causal, grid1d(scores.size), flat(scores), scores.shape[1], scores.shape[2], np.float32(-np.inf))
    return scores


__all__ = ["causal_mask", "merge_heads", "split_heads"]
