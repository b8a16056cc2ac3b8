"""RNN, LSTM and GRU kernels (PyTorch layouts and gate orders) with backpropagation through time.

Internally time-major: x [T, N, F]. The input projection of all steps is one matrix product;
each step adds h @ W_hh^T. Backward gathers every step's gate gradients and forms the weight
gradients with one matrix product each.
"""
from __future__ import annotations

import numpy as np

from ..runtime.recurrent import StackedRecurrentOps
from . import kernels

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid_(x) -> None:
    """x = 1 / (1 + exp(-x)), in place."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    np.reciprocal(x, out=x)


def _lstm_order(hidden: int):
    """Row order that swaps PyTorch's g and o gate blocks (i, f, g, o <-> i, f, o, g); it is its own inverse."""
    return np.r_[0:2 * hidden, 3 * hidden:4 * hidden, 2 * hidden:3 * hidden]


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


def _direction_backward(cache, dhs):
    """Gradients of one direction: dx [T, N, F] and (dW_ih, dW_hh, db_ih, db_hh)."""
    if cache[0] == "lstm":
        return _lstm_backward(cache, dhs)
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
    dx = (flat @ w_ih).reshape(steps, batch, -1)
    biases = (flat.sum(axis=0), hidden_side.sum(axis=0)) if has_bias else (None, None)
    return dx, (dw_ih, dw_hh, *biases)


def _lstm_forward(x, w_ih, w_hh, b_ih, b_hh, reverse):
    """One LSTM direction, feature-major inside: each step's gates are [4H, N] (W_hh h^T, the faster product
    here) in the internal order i, f, o, g, so every elementwise call runs on a contiguous block."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    order = _lstm_order(hidden)
    w_ih, w_hh = w_ih[order], w_hh[order]
    acts = np.matmul(w_ih, x.transpose(0, 2, 1))       # [T, 4H, N] input projections; gates in place later
    if b_ih is not None:
        acts += (b_ih[order] + b_hh[order])[:, None]
    cells = np.empty((steps, hidden, batch), dtype=x.dtype)
    tanh_c, hs_t, ig = np.empty_like(cells), np.empty_like(cells), np.empty((hidden, batch), dtype=x.dtype)
    h, c = np.zeros((hidden, batch), dtype=x.dtype), np.zeros((hidden, batch), dtype=x.dtype)
    recurrent = np.empty((4 * hidden, batch), dtype=x.dtype)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        a = acts[t]
        np.matmul(w_hh, h, out=recurrent)
        a += recurrent
        _sigmoid_(a[:3 * hidden])
        np.tanh(a[3 * hidden:], out=a[3 * hidden:])
        i, f, o, g = a[:hidden], a[hidden:2 * hidden], a[2 * hidden:3 * hidden], a[3 * hidden:]
        np.multiply(f, c, out=cells[t])
        c = cells[t]
        c += np.multiply(i, g, out=ig)
        np.tanh(c, out=tanh_c[t])
        h = hs_t[t]
        np.multiply(o, tanh_c[t], out=h)
    hs = np.ascontiguousarray(hs_t.transpose(0, 2, 1))
    return hs, ("lstm", x, w_ih, w_hh, b_ih is not None, reverse, hs, acts, cells, tanh_c)


def _lstm_backward(cache, dhs):
    """Gradients of one LSTM direction (see _lstm_forward), feature-major too: the gate gradients of all
    steps fill one [4H, T*N] matrix, so each weight gradient is a single product."""
    _, x, w_ih, w_hh, has_bias, reverse, hs, acts, cells, tanh_c = cache
    steps, batch, hidden = dhs.shape
    grads = np.empty((4 * hidden, steps, batch), dtype=dhs.dtype)
    dhs_t = np.ascontiguousarray(dhs.transpose(0, 2, 1))
    w_hh_t = np.ascontiguousarray(w_hh.T)
    dh_next = np.zeros((hidden, batch), dtype=dhs.dtype)
    dc = np.zeros(hidden * batch, dtype=dhs.dtype)
    step_grads = np.empty((4, hidden * batch), dtype=dhs.dtype)
    for t in range(steps) if reverse else range(steps - 1, -1, -1):
        first = t == (steps - 1 if reverse else 0)
        c_prev = cells[t] if first else cells[t + (1 if reverse else -1)]
        kernels.lstm_cell_backward(dhs_t[t].reshape(-1), dh_next.reshape(-1), acts[t].reshape(4, -1),
                                   tanh_c[t].reshape(-1), c_prev.reshape(-1), not first, dc, step_grads)
        grads[:, t] = step_grads.reshape(4 * hidden, batch)
        np.matmul(w_hh_t, step_grads.reshape(4 * hidden, batch), out=dh_next)
    prev = np.zeros_like(hs)                            # the hidden state each step started from
    if reverse:
        prev[:-1] = hs[1:]
    else:
        prev[1:] = hs[:-1]
    flat = grads.reshape(4 * hidden, steps * batch)
    order = _lstm_order(hidden)                         # back to PyTorch's gate order i, f, g, o
    dw_ih = (flat @ x.reshape(steps * batch, -1))[order]
    dw_hh = (flat @ prev.reshape(steps * batch, hidden))[order]
    dx = (flat.T @ w_ih).reshape(steps, batch, -1)
    bias = flat.sum(axis=1)[order] if has_bias else None
    return dx, (dw_ih, dw_hh, bias, None if bias is None else bias.copy())


class RecurrentOps(StackedRecurrentOps):
    """Mixin of NumpyOps: the direction loops above plus the array primitives the shared stacking needs."""

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
