"""Binary-layer kernels: BIN(W) (with XNOR-Net's per-channel scale), its straight-through gradient, clamping.

A weight is viewed as rows (output channels, axis 0) of n values; one thread handles one row, since the rows
are few and the xnor scale is a sum over the row. All arithmetic stays float32.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..device import F0, F1, empty, grid1d, launch
from .elementwise import flat


@cuda.jit(cache=True)
def _binarize(w, out, rows, n, inv_n, xnor):
    r = cuda.grid(1)
    while r < rows:
        base = r * n
        alpha = F1
        if xnor:
            total = F0
            for i in range(n):
                total += abs(w[base + i])
            alpha = total * inv_n
        for i in range(n):
            out[base + i] = alpha if w[base + i] >= F0 else -alpha
        r += cuda.gridsize(1)


@cuda.jit(cache=True)
def _binary_grad(g, w, out, rows, n, inv_n, xnor):
    r = cuda.grid(1)
    while r < rows:
        base = r * n
        alpha, through = F1, F0
        if xnor:
            total, dot = F0, F0
            for i in range(n):
                v = w[base + i]
                total += abs(v)
                dot += g[base + i] if v >= F0 else -g[base + i]
            alpha, through = total * inv_n, dot * inv_n
        for i in range(n):
            v = w[base + i]
            value = g[base + i] if -F1 <= v <= F1 else F0
            if xnor:
                sign = F1 if v > F0 else (-F1 if v < F0 else F0)
                value = value * alpha + sign * through
            out[base + i] = value
        r += cuda.gridsize(1)


@cuda.jit(cache=True)
def _clamp(a, low, high):
    i = cuda.grid(1)
    while i < a.size:
        a[i] = min(max(a[i], low), high)
        i += cuda.gridsize(1)


def _rows(w) -> tuple:
    rows = w.shape[0]
    n = w.size // rows
    return rows, n, np.float32(1.0 / n)


def binarize_weight(w, xnor: bool):
    out = empty(w.shape)
    rows, n, inv_n = _rows(w)
    launch(_binarize, grid1d(rows), flat(w), flat(out), rows, n, inv_n, bool(xnor))
    return out


def binary_weight_grad(g, w, xnor: bool):
    out = empty(w.shape)
    rows, n, inv_n = _rows(w)
    launch(_binary_grad, grid1d(rows), flat(g), flat(w), flat(out), rows, n, inv_n, bool(xnor))
    return out


def clamp_(a, low: float, high: float) -> None:
    launch(_clamp, grid1d(a.size), flat(a), np.float32(low), np.float32(high))
