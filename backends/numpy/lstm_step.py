"""One float32 LSTM step forward as a single Numba pass over the step's gates (fastexp's vectorised exp)."""
from __future__ import annotations

from numba import njit

from .fastexp import FLAGS, ONE, TWO, expm1_


@njit(**FLAGS)
def lstm_step32(hw, xw, t, bias, c_prev, gates, c, tanh_c, h, bits):
    """hw [4H, N] holds W_hh h_(t-1) (PyTorch's order i, f, g, o); add xw[:, t] and the bias, activate into
    gates [4H, N] (sigmoids, and tanh for g), then c = f c_prev + i g, tanh_c = tanh(c), h = o tanh_c (all
    [H, N]; everything contiguous). bits: int32 scratch of 4H * N elements. hw is a scratch kept in cache for
    the product; the stored gates are written once."""
    rows, n_ = gates.shape
    hidden = rows // 4
    for j in range(rows):                          # exponents: -x for the sigmoid rows, -2x for g's tanh
        row, pre, src, b = gates[j], hw[j], xw[j, t], bias[j]
        scale = -TWO if 2 * hidden <= j < 3 * hidden else -ONE
        for n in range(n_):
            row[n] = scale * (src[n] + b + pre[n])
    flat = gates.reshape(-1)
    expm1_(flat, bits)
    block = hidden * n_
    for n in range(2 * block):                     # i, f: 1 / (2 + expm1(-x))
        flat[n] = ONE / (TWO + flat[n])
    for n in range(3 * block, 4 * block):          # o
        flat[n] = ONE / (TWO + flat[n])
    for n in range(2 * block, 3 * block):          # g: -m / (2 + m), m = expm1(-2x)
        flat[n] = -flat[n] / (TWO + flat[n])
    i, f, g, o = flat[:block], flat[block:2 * block], flat[2 * block:3 * block], flat[3 * block:]
    cp, cn, tc, hr = c_prev.reshape(-1), c.reshape(-1), tanh_c.reshape(-1), h.reshape(-1)
    for n in range(block):
        cn[n] = f[n] * cp[n] + i[n] * g[n]
    for n in range(block):
        tc[n] = -TWO * cn[n]
    expm1_(tc, bits[:block])
    for n in range(block):
        tc[n] = -tc[n] / (TWO + tc[n])
    for n in range(block):
        hr[n] = o[n] * tc[n]
