"""One float32 LSTM step forward as a single Numba pass, with an exp LLVM can vectorise.

NumPy's float32 `exp`/`tanh` run scalar on a CPU without AVX-512 (7-9 ns an element here, where a negate
takes 0.25 ns), and Numba's `math.exp` calls the scalar libm without Intel SVML. The step's transcendentals
(three sigmoids and two tanh per unit) then cost more than its matrix product. `_exp_row` computes exp
from plain arithmetic instead: x = k ln2 + r with |r| <= ln2 / 2, e^r by its Taylor polynomial to r^7
(relative error below 1e-8, under float32's rounding), and 2^k built in the exponent bits of an int32
scratch row viewed as float32; every loop is branch-free and vectorises. The sigmoid is 1 / (1 + e^-x) and
tanh (1 - e^-2x) / (1 + e^-2x). float64 keeps NumPy's functions (backends/numpy/recurrent.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

_F = np.float32
LOG2E, LN2_HI, LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
LOW, HIGH = _F(-87.0), _F(88.0)                 # e^x stays a normal float32 (0 and inf are clamped away)
ONE, HALF, TWO = _F(1.0), _F(0.5), _F(2.0)
C2, C3, C4, C5, C6, C7 = (_F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720), _F(1 / 5040))


@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _exp_row(x, bits):
    """x = exp(x) in place for a contiguous float32 row; bits: an int32 scratch row of the same length."""
    for n in range(x.shape[0]):
        v = min(max(x[n], LOW), HIGH)
        k = np.floor(v * LOG2E + HALF)
        r = (v - k * LN2_HI) - k * LN2_LO
        x[n] = ONE + r * (ONE + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * (C6 + r * C7))))))
        bits[n] = (np.int32(k) + 127) << 23
    scale = bits.view(np.float32)
    for n in range(x.shape[0]):
        x[n] *= scale[n]


@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def lstm_step32(gates, xw, t, bias, c_prev, c, tanh_c, h, bits):
    """gates [4H, N] (contiguous) holds W_hh h_(t-1) (PyTorch's order i, f, g, o); add xw[:, t] and the bias,
    activate in place (sigmoids, and tanh for g), then c = f c_prev + i g, tanh_c = tanh(c), h = o tanh_c
    (all [H, N], contiguous). bits: int32 scratch of 4H * N elements."""
    rows, n_ = gates.shape
    hidden = rows // 4
    for j in range(rows):                          # exponents: -x for the sigmoid rows, -2x for g's tanh
        row, src, b = gates[j], xw[j, t], bias[j]
        scale = -TWO if 2 * hidden <= j < 3 * hidden else -ONE
        for n in range(n_):
            row[n] = scale * (src[n] + b + row[n])
    _exp_row(gates.reshape(-1), bits)
    sig = gates.reshape(-1)
    for n in range(2 * hidden * n_):              # i, f
        sig[n] = ONE / (ONE + sig[n])
    for n in range(3 * hidden * n_, rows * n_):   # o
        sig[n] = ONE / (ONE + sig[n])
    for n in range(2 * hidden * n_, 3 * hidden * n_):   # g
        sig[n] = (ONE - sig[n]) / (ONE + sig[n])
    block = hidden * n_
    i, f, g, o = sig[:block], sig[block:2 * block], sig[2 * block:3 * block], sig[3 * block:]
    cp, cn, tc, hr = c_prev.reshape(-1), c.reshape(-1), tanh_c.reshape(-1), h.reshape(-1)
    for n in range(hidden * n_):
        cn[n] = f[n] * cp[n] + i[n] * g[n]
    for n in range(hidden * n_):
        tc[n] = -TWO * cn[n]
    _exp_row(tc, bits[:hidden * n_])
    for n in range(hidden * n_):
        tc[n] = (ONE - tc[n]) / (ONE + tc[n])
    for n in range(hidden * n_):
        hr[n] = o[n] * tc[n]
