"""A tiled shared-memory matrix product, batched, with transposes, broadcasting and batch reduction.

gemm(a, b, c) computes c[z] = alpha * op(a[z]) @ op(b[z]) + beta * c[z] over 3-D arrays, where
op transposes the last two axes when asked, a batch of 1 broadcasts, and a c with batch 1 while
a or b has more sums the products over the batch (the weight gradient of a convolution).

Each block computes a TILE x TILE tile of c, staging KTILE-deep slices of a and b in shared
memory; each thread accumulates a MICRO x MICRO register tile. Blocks loop over tiles, so any
grid is correct; batch reductions are split over blocks and combined with atomic adds.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, float32

from ..device import F0, MAX_BLOCKS, SIMULATOR, launch
from .elementwise import fill, scale

TILE = 4 if SIMULATOR else 64
MICRO = 2 if SIMULATOR else 4
KTILE = 4 if SIMULATOR else 16
SIDE = TILE // MICRO                  # threads per block side
THREADS = SIDE * SIDE
LOADS = TILE * KTILE // THREADS       # elements of each staged slice loaded per thread
PAD = TILE + 1                        # padded shared rows avoid bank conflicts


@cuda.jit(cache=True)
def _gemm(a, b, c, trans_a, trans_b, alpha, beta, z_chunk, atomic):
    sa = cuda.shared.array((KTILE, PAD), float32)
    sb = cuda.shared.array((KTILE, PAD), float32)
    acc = cuda.local.array((MICRO, MICRO), float32)
    ra = cuda.local.array(MICRO, float32)
    rb = cuda.local.array(MICRO, float32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * SIDE + tx
    m_size = c.shape[1]
    n_size = c.shape[2]
    k_size = a.shape[1] if trans_a else a.shape[2]
    z_size = max(a.shape[0], b.shape[0])
    reduce_z = c.shape[0] == 1 and z_size > 1
    tiles_n = (n_size + TILE - 1) // TILE
    per_z = ((m_size + TILE - 1) // TILE) * tiles_n
    groups = (z_size + z_chunk - 1) // z_chunk if reduce_z else c.shape[0]
    task = cuda.blockIdx.x
    while task < per_z * groups:
        group = task // per_z
        tile = task % per_z
        m0 = (tile // tiles_n) * TILE
        n0 = (tile % tiles_n) * TILE
        for i in range(MICRO):
            for j in range(MICRO):
                acc[i, j] = F0
        z_lo = group * z_chunk if reduce_z else group
        z_hi = min(z_lo + z_chunk, z_size) if reduce_z else group + 1
        for z in range(z_lo, z_hi):
            za = z if a.shape[0] > 1 else 0
            zb = z if b.shape[0] > 1 else 0
            for k0 in range(0, k_size, KTILE):
                for step in range(LOADS):
                    e = tid + step * THREADS
                    if trans_a:          # a[z, k, m]: neighbouring threads read neighbouring m
                        kk = e // TILE
                        mm = e % TILE
                    else:                # a[z, m, k]: neighbouring threads read neighbouring k
                        mm = e // KTILE
                        kk = e % KTILE
                    v = F0
                    if m0 + mm < m_size and k0 + kk < k_size:
                        v = a[za, k0 + kk, m0 + mm] if trans_a else a[za, m0 + mm, k0 + kk]
                    sa[kk, mm] = v
                    if trans_b:          # b[z, n, k]
                        nn = e // KTILE
                        kk = e % KTILE
                    else:                # b[z, k, n]
                        kk = e // TILE
                        nn = e % TILE
                    v = F0
                    if n0 + nn < n_size and k0 + kk < k_size:
                        v = b[zb, n0 + nn, k0 + kk] if trans_b else b[zb, k0 + kk, n0 + nn]
                    sb[kk, nn] = v
                cuda.syncthreads()
                for kk in range(KTILE):
                    for i in range(MICRO):
                        ra[i] = sa[kk, ty + i * SIDE]
                        rb[i] = sb[kk, tx + i * SIDE]
                    for i in range(MICRO):
                        for j in range(MICRO):
                            acc[i, j] += ra[i] * rb[j]
                cuda.syncthreads()
        zc = 0 if reduce_z else group
        for i in range(MICRO):
            row = m0 + ty + i * SIDE
            for j in range(MICRO):
                col = n0 + tx + j * SIDE
                if row < m_size and col < n_size:
                    if atomic:
                        cuda.atomic.add(c, (zc, row, col), alpha * acc[i, j])
                    elif beta == F0:
                        c[zc, row, col] = alpha * acc[i, j]
                    else:
                        c[zc, row, col] = alpha * acc[i, j] + beta * c[zc, row, col]
        task += cuda.gridDim.x


def _as3d(x):
    return x if len(x.shape) == 3 else x.reshape(1, *x.shape)


def gemm(a, b, c=None, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0):
    """c = alpha * op(a) @ op(b) + beta * c for 2-D or batched 3-D device arrays; returns c."""
    from ..device import empty
    two_d = len(a.shape) == 2 and len(b.shape) == 2
    a3, b3 = _as3d(a), _as3d(b)
    m = a3.shape[2] if trans_a else a3.shape[1]
    k = a3.shape[1] if trans_a else a3.shape[2]
    kb = b3.shape[2] if trans_b else b3.shape[1]
    n = b3.shape[1] if trans_b else b3.shape[2]
    if k != kb:
        raise ValueError(f"gemm: inner sizes differ ({k} vs {kb})")
    z = max(a3.shape[0], b3.shape[0])
    if c is None:
        if beta != 0.0:
            raise ValueError("gemm: beta needs an existing c")
        c = empty((m, n) if two_d else (z, m, n))
    c3 = _as3d(c)
    tiles = -(-m // TILE) * -(-n // TILE)
    reduce_z = c3.shape[0] == 1 and z > 1
    if reduce_z:
        # split the batch sum over enough blocks to fill the device, then combine atomically
        groups = max(1, min(z, MAX_BLOCKS // max(1, tiles) if not SIMULATOR else 1))
        z_chunk = -(-z // groups)
        groups = -(-z // z_chunk)
    else:
        groups, z_chunk = c3.shape[0], 1
    atomic = reduce_z and groups > 1
    if atomic:
        if beta == 0.0:
            fill(c3, 0.0)
        elif beta != 1.0:
            scale(c3, beta, out=c3)
    blocks = max(1, min(tiles * groups, MAX_BLOCKS if not SIMULATOR else 2))
    launch(_gemm, (blocks, (SIDE, SIDE)), a3, b3, c3, bool(trans_a), bool(trans_b), np.float32(alpha),
           np.float32(beta), int(z_chunk), bool(atomic))
    return c


__all__ = ["KTILE", "MICRO", "TILE", "gemm"]
