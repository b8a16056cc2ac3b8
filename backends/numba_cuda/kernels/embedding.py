"""Embedding lookup (gather) and its backward (scatter-add with atomics); out-of-range ids are flagged."""
from __future__ import annotations

from numba import cuda

from ..device import empty, grid1d, launch
from .elementwise import flat, zeros


@cuda.jit(cache=True)
def _gather(ids, weight, y, dim, vocab, bad):
    i = cuda.grid(1)
    while i < y.size:
        token = ids[i // dim]
        if token < 0 or token >= vocab:
            bad[0] = 1
            token = 0
        y[i] = weight[token * dim + i % dim]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _scatter_add(ids, dy, dweight, dim, padding_idx):
    i = cuda.grid(1)
    while i < dy.size:
        token = ids[i // dim]
        if token != padding_idx:
            cuda.atomic.add(dweight, token * dim + i % dim, dy[i])
        i += cuda.gridsize(1)


def gather(ids, weight, bad):
    """weight[ids] for int ids of any shape; sets bad[0] = 1 if an id is outside the vocabulary."""
    vocab, dim = weight.shape
    y = empty((*ids.shape, dim))
    launch(_gather, grid1d(y.size), flat(ids), flat(weight), flat(y), dim, vocab, bad)
    return y


def scatter_add(ids, dy, vocab: int, padding_idx=None):
    dim = dy.shape[len(dy.shape) - 1]
    dweight = zeros((vocab, dim))
    pad = -1 if padding_idx is None else padding_idx % vocab
    launch(_scatter_add, grid1d(dy.size), flat(ids), flat(dy), flat(dweight), dim, pad)
    return dweight


__all__ = ["gather", "scatter_add"]
