"""RNN, LSTM and GRU kernels (PyTorch layouts and gate orders) with backpropagation through time.

Internally time-major: x [T, N, F]. The input projection of all steps is one matrix product;
each step adds h @ W_hh^T. Backward gathers every step's gate gradients and forms the weight
gradients with one matrix product each.
"""
from __future__ import annotations

import numpy as np

from . import kernels
from .lstm_step import lstm_step32


def _sigmoid_(x) -> None:
    """x = 1 / (1 + exp(-x)), in place."""
    np.negative(x, out=x)
    with np.errstate(over="ignore"):     # exp(-x) = inf far below 0: the sigmoid is then 0, as it should be
        np.exp(x, out=x)
    x += 1
    np.reciprocal(x, out=x)


def _direction_forward(op, x, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity):
    """One direction of one layer: outputs [T, N, H] and the cache for its backward."""
    if op == "lstm":
        return _lstm_forward(x, w_ih, w_hh, b_ih, b_hh, reverse)
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    xw = (x.reshape(steps * batch, -1) @ w_ih.T).reshape(steps, batch, -1)
    if b_ih is not None:
        xw += b_ih + b_hh if op != "gru" else b_ih
    h = np.zeros((batch, hidden), dtype=x.dtype)
    hs = np.empty((steps, batch, hidden), dtype=x.dtype)
    prev = np.empty_like(hs)
    acts = np.empty_like(xw)                       # post-activation gates per step
    hw_n = np.empty_like(hs) if op == "gru" else None
    hw = np.empty((batch, 3 * hidden), dtype=x.dtype) if op == "gru" else None
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    w_hh_t = np.ascontiguousarray(w_hh.T)         # BLAS runs h @ W^T about 3x faster from a contiguous copy
    for t in order:
        prev[t] = h
        if op == "gru":           # in place: gates r, z, n straight into this step's slots
            np.matmul(h, w_hh_t, out=hw)
            if b_hh is not None:
                hw += b_hh
            a = acts[t]
            rz, n = a[:, :2 * hidden], a[:, 2 * hidden:]
            np.add(xw[t, :, :2 * hidden], hw[:, :2 * hidden], out=rz)
            _sigmoid_(rz)
            hw_n[t] = hw[:, 2 * hidden:]
            np.multiply(rz[:, :hidden], hw_n[t], out=n)
            n += xw[t, :, 2 * hidden:]
            np.tanh(n, out=n)
            h_new = hs[t]
            np.subtract(h, n, out=h_new)
            h_new *= rz[:, hidden:]
            h_new += n
            h = h_new
            continue
        else:
            pre = xw[t] + h @ w_hh_t
            h = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)
            acts[t] = h
        hs[t] = h
    return hs, (op, x, w_ih, w_hh, b_ih is not None, reverse, nonlinearity, prev, acts, hw_n)


def _direction_backward(cache, dhs, need_dx=True):
    """Gradients of one direction: dx [T, N, F] (None when not need_dx) and (dW_ih, dW_hh, db_ih, db_hh)."""
    if cache[0] == "lstm":
        return _lstm_backward(cache, dhs, need_dx)
    op, x, w_ih, w_hh, has_bias, reverse, nonlinearity, prev, acts, hw_n = cache
    steps, batch, hidden = dhs.shape
    dgates = np.empty_like(acts)                   # pre-activation gradients (input side)
    dhw_all = np.empty_like(acts) if op == "gru" else None
    dh_next = np.zeros((batch, hidden), dtype=dhs.dtype)
    dh_carry = np.empty_like(dh_next) if op == "gru" else None
    order = range(steps) if reverse else range(steps - 1, -1, -1)
    for t in order:
        dh = dhs[t] + dh_next
        a = acts[t]
        if op == "gru":           # one Numba pass for the gate gradients, then one product for the carry
            kernels.gru_cell_backward(dh, a, hw_n[t], prev[t], dgates[t], dhw_all[t], dh_carry)
            dh_next = dhw_all[t] @ w_hh
            dh_next += dh_carry
        else:
            h = a
            d = dh * (1 - h * h) if nonlinearity == "tanh" else dh * (h > 0)
            dgates[t] = d
            dh_next = d @ w_hh
    flat = dgates.reshape(steps * batch, -1)
    hidden_side = flat if dhw_all is None else dhw_all.reshape(steps * batch, -1)
    dw_ih = flat.T @ x.reshape(steps * batch, -1)
    dw_hh = hidden_side.T @ prev.reshape(steps * batch, hidden)
    dx = (flat @ w_ih).reshape(steps, batch, -1) if need_dx else None
    biases = (flat.sum(axis=0), hidden_side.sum(axis=0)) if has_bias else (None, None)
    return dx, (dw_ih, dw_hh, *biases)


def _lstm_forward(x, w_ih, w_hh, b_ih, b_hh, reverse):
    """One LSTM direction, feature-major inside: each step's gates are [4H, N] (W_hh h, the fastest product
    layout here) in PyTorch's order i, f, g, o; in float32 one Numba pass per step does the elementwise work
    (lstm_step.py), in float64 Numba passes around NumPy's exp and tanh. The outputs land in hs_ext [T + 1, N, H] next to the zero initial state, so the
    backward's "state each step started from" is a contiguous slice of it, not a copy."""
    steps, batch, features = x.shape
    hidden = w_hh.shape[1]
    dtype = x.dtype
    xw = (w_ih @ x.reshape(steps * batch, features).T).reshape(4 * hidden, steps, batch)   # all steps at once
    bias = b_ih + b_hh if b_ih is not None else np.zeros(4 * hidden, dtype=dtype)
    gates = np.empty((steps, 4 * hidden, batch), dtype=dtype)
    cells, tanh_c = np.empty((steps, hidden, batch), dtype=dtype), np.empty((steps, hidden, batch), dtype=dtype)
    hs_ext = np.empty((steps + 1, batch, hidden), dtype=dtype)
    hs_ext[steps if reverse else 0] = 0
    h, c = np.zeros((hidden, batch), dtype=dtype), np.zeros((hidden, batch), dtype=dtype)
    one = dtype.type(1)
    fused = dtype == np.float32                   # one vectorised Numba pass per step (lstm_step.py)
    bits = np.empty(4 * hidden * batch, dtype=np.int32) if fused else None
    hw = np.empty((4 * hidden, batch), dtype=dtype) if fused else None
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        gt = gates[t]
        if fused:
            np.matmul(w_hh, h, out=hw)
            lstm_step32(hw, xw, t, bias, c, gt, cells[t], tanh_c[t], h, bits)
            c = cells[t]
            hs_ext[t if reverse else t + 1] = h.T
            continue
        np.matmul(w_hh, h, out=gt)
        kernels.lstm_preact(gt, xw, t, bias)
        with np.errstate(over="ignore"):     # the gates' exp(-a): inf makes the sigmoid 0
            np.exp(gt[:2 * hidden], out=gt[:2 * hidden])
            np.tanh(gt[2 * hidden:3 * hidden], out=gt[2 * hidden:3 * hidden])
            np.exp(gt[3 * hidden:], out=gt[3 * hidden:])
        kernels.lstm_cell(gt, c, one, cells[t])
        c = cells[t]
        np.tanh(c, out=tanh_c[t])
        np.multiply(gt[3 * hidden:], tanh_c[t], out=h)
        hs_ext[t if reverse else t + 1] = h.T
    hs = hs_ext[:-1] if reverse else hs_ext[1:]
    return hs, ("lstm", x, w_ih, w_hh, b_ih is not None, reverse, hs_ext, gates, cells, tanh_c)


def _lstm_backward(cache, dhs, need_dx=True):
    """Gradients of one LSTM direction (see _lstm_forward), feature-major too: the gate gradients of all
    steps fill one [4H, T*N] matrix, so each weight gradient is a single product."""
    _, x, w_ih, w_hh, has_bias, reverse, hs_ext, gates, cells, tanh_c = cache
    steps, batch, hidden = dhs.shape
    dtype = dhs.dtype
    grads = np.empty((4 * hidden, steps, batch), dtype=dtype)
    dbias = np.zeros(4 * hidden, dtype=dtype)
    dh_next = np.zeros((hidden, batch), dtype=dtype)
    dc = np.zeros((hidden, batch), dtype=dtype)
    zeros = np.zeros((hidden, batch), dtype=dtype)
    one = dtype.type(1)
    w_hh_t = w_hh.T                                     # a transposed view: BLAS runs it as fast as a copy
    for t in range(steps) if reverse else range(steps - 1, -1, -1):
        first = t == (steps - 1 if reverse else 0)
        c_prev = zeros if first else cells[t + (1 if reverse else -1)]
        kernels.lstm_cell_backward(dh_next, dhs[t], gates[t], tanh_c[t], c_prev, one, dc, grads, t, dbias)
        np.matmul(w_hh_t, grads[:, t], out=dh_next)
    prev = hs_ext[1:] if reverse else hs_ext[:-1]       # the hidden state each step started from
    flat = grads.reshape(4 * hidden, steps * batch)
    dw_ih = flat @ x.reshape(steps * batch, -1)
    dw_hh = flat @ prev.reshape(steps * batch, hidden)
    dx = (flat.T @ w_ih).reshape(steps, batch, -1) if need_dx else None
    bias = dbias if has_bias else None
    return dx, (dw_ih, dw_hh, bias, None if bias is None else bias.copy())


class RecurrentOps:
    """Mixin of NumpyOps: the direction loops above plus the array primitives the shared stacking
    (backends/runtime/recurrent.py, registered in lower/recurrent.py) runs rnn/lstm/gru with."""

    rnn_direction_forward = staticmethod(_direction_forward)
    rnn_direction_backward = staticmethod(_direction_backward)

    @staticmethod
    def rnn_swap01(x):
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def rnn_dropout(self, x, p):
        mask = self.dropout_mask(x.shape, p)
        return x * mask, mask

    @staticmethod
    def rnn_concat(parts, axis):
        return np.concatenate(parts, axis=axis)

    @staticmethod
    def rnn_split(x, sizes, axis):
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)

    @staticmethod
    def rnn_zeros(shape, like):
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def rnn_assign(view, value):
        view[...] = value

    @staticmethod
    def rnn_copy(x):
        return x.copy()

    @staticmethod
    def rnn_add(a, b):
        return a + b

    @staticmethod
    def rnn_mul(a, b):
        return a * b
