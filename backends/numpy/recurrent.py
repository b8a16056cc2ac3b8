"""RNN, LSTM and GRU kernels (PyTorch layouts and gate orders) with backpropagation through time.

Internally time-major: x [T, N, F]. The input projection of all steps is one matrix product;
each step adds h @ W_hh^T. Backward gathers every step's gate gradients and forms the weight
gradients with one matrix product each.
"""
from __future__ import annotations

import numpy as np

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
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    if op == "lstm":              # internal gate order i, f, o, g: one sigmoid call over a contiguous block
        order_ = _lstm_order(hidden)
        w_ih, w_hh = w_ih[order_], w_hh[order_]
        if b_ih is not None:
            b_ih, b_hh = b_ih[order_], b_hh[order_]
    xw = (x.reshape(steps * batch, -1) @ w_ih.T).reshape(steps, batch, -1)
    if b_ih is not None:
        xw += b_ih + b_hh if op != "gru" else b_ih
    h = np.zeros((batch, hidden), dtype=x.dtype)
    c = np.zeros_like(h)
    hs = np.empty((steps, batch, hidden), dtype=x.dtype)
    prev = np.empty_like(hs)
    acts = np.empty_like(xw)                       # post-activation gates per step
    cells = np.empty_like(hs) if op == "lstm" else None
    tanh_c = np.empty_like(hs) if op == "lstm" else None
    hw_n = np.empty_like(hs) if op == "gru" else None
    hw = np.empty((batch, 3 * hidden), dtype=x.dtype) if op == "gru" else None
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    w_hh_t = np.ascontiguousarray(w_hh.T)         # BLAS runs h @ W^T about 3x faster from a contiguous copy
    for t in order:
        prev[t] = h
        if op == "lstm":          # in place into this step's slots: fewer temporaries per step
            a = acts[t]
            np.matmul(h, w_hh_t, out=a)
            a += xw[t]
            _sigmoid_(a[:, :3 * hidden])
            np.tanh(a[:, 3 * hidden:], out=a[:, 3 * hidden:])
            i, f, o, g = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:3 * hidden], a[:, 3 * hidden:]
            c_new = cells[t]
            np.multiply(f, c, out=c_new)
            c_new += i * g
            c = c_new
            np.tanh(c, out=tanh_c[t])
            h = hs[t]
            np.multiply(o, tanh_c[t], out=h)
            continue
        elif op == "gru":         # in place: gates r, z, n straight into this step's slots
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
    return hs, (op, x, w_ih, w_hh, b_ih is not None, reverse, nonlinearity, prev, acts, (cells, tanh_c), hw_n)


def _direction_backward(cache, dhs):
    """Gradients of one direction: dx [T, N, F] and (dW_ih, dW_hh, db_ih, db_hh)."""
    op, x, w_ih, w_hh, has_bias, reverse, nonlinearity, prev, acts, (cells, tanh_cs), hw_n = cache
    steps, batch, hidden = dhs.shape
    dgates = np.empty_like(acts)                   # pre-activation gradients (input side)
    dhw_all = np.empty_like(acts) if op == "gru" else None
    dh_next = np.zeros((batch, hidden), dtype=dhs.dtype)
    dc_next = np.zeros_like(dh_next)
    dh_carry = np.empty_like(dh_next) if op == "gru" else None
    order = range(steps) if reverse else range(steps - 1, -1, -1)
    for t in order:
        dh = dhs[t] + dh_next
        a = acts[t]
        if op == "lstm":          # one Numba pass: gate gradients and the cell gradient, no transcendentals
            first = t == (steps - 1 if reverse else 0)
            c_prev = cells[t] if first else cells[t + (1 if reverse else -1)]
            kernels.lstm_cell_backward(dh, a, tanh_cs[t], c_prev, not first, dc_next, dgates[t])
            np.matmul(dgates[t], w_hh, out=dh_next)
        elif op == "gru":         # one Numba pass for the gate gradients, then one product for the carry
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
    if op == "lstm":              # back to PyTorch's gate order
        order_ = _lstm_order(hidden)
        dw_ih, dw_hh = dw_ih[order_], dw_hh[order_]
        biases = (biases[0][order_], biases[1][order_]) if has_bias else biases
    return dx, (dw_ih, dw_hh, *biases)


class RecurrentOps:
    """Mixin of NumpyOps: rnn, lstm and gru layers (multi-layer, bidirectional, return_sequences)."""

    def _recurrent_forward(self, op, ctx, inputs, params, attrs, train):
        x = np.ascontiguousarray(inputs[0].transpose(1, 0, 2))        # [T, N, F]
        directions = ("", "_reverse") if attrs.get("bidirectional") else ("",)
        dropout = attrs.get("dropout", 0.0) if train else 0.0
        nonlinearity = attrs.get("nonlinearity", "tanh")
        caches, masks = [], []
        for layer in range(attrs.get("layers", 1)):
            if layer and dropout:
                mask = self.dropout_mask(x.shape, dropout)
                x = x * mask
                masks.append(mask)
            outs, layer_caches = [], []
            for suffix in directions:
                key = f"l{layer}{suffix}"
                hs, cache = _direction_forward(op, x, params[f"weight_ih_{key}"], params[f"weight_hh_{key}"],
                                               params.get(f"bias_ih_{key}"), params.get(f"bias_hh_{key}"),
                                               bool(suffix), nonlinearity)
                outs.append(hs)
                layer_caches.append(cache)
            caches.append(layer_caches)
            x = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
        steps = x.shape[0]
        if train:
            ctx.update(caches=caches, masks=masks, directions=directions, attrs=attrs, steps=steps)
        if attrs.get("return_sequences"):
            return np.ascontiguousarray(x.transpose(1, 0, 2))
        hidden = attrs["hidden"]
        if len(directions) == 1:
            return x[-1].copy()
        return np.concatenate([x[-1, :, :hidden], x[0, :, hidden:]], axis=1)

    def _recurrent_backward(self, ctx, grad):
        attrs, directions, caches = ctx["attrs"], ctx["directions"], ctx["caches"]
        hidden, steps = attrs["hidden"], ctx["steps"]
        if attrs.get("return_sequences"):
            dout = np.ascontiguousarray(grad.transpose(1, 0, 2))
        else:
            dout = np.zeros((steps, grad.shape[0], hidden * len(directions)), dtype=grad.dtype)
            dout[-1, :, :hidden] = grad[:, :hidden]
            if len(directions) == 2:
                dout[0, :, hidden:] = grad[:, hidden:]
        grads = {}
        for layer in range(len(caches) - 1, -1, -1):
            dx = None
            for index, suffix in enumerate(directions):
                part = dout[:, :, index * hidden:(index + 1) * hidden]
                d_in, (dw_ih, dw_hh, db_ih, db_hh) = _direction_backward(caches[layer][index], part)
                key = f"l{layer}{suffix}"
                grads[f"weight_ih_{key}"], grads[f"weight_hh_{key}"] = dw_ih, dw_hh
                if db_ih is not None:
                    grads[f"bias_ih_{key}"], grads[f"bias_hh_{key}"] = db_ih, db_hh
                dx = d_in if dx is None else dx + d_in
            if layer and ctx["masks"]:
                dx = dx * ctx["masks"][layer - 1]
            dout = dx
        return [np.ascontiguousarray(dout.transpose(1, 0, 2))], grads

    def forward_rnn(self, ctx, inputs, params, attrs, train):
        return self._recurrent_forward("rnn", ctx, inputs, params, attrs, train)

    def forward_lstm(self, ctx, inputs, params, attrs, train):
        return self._recurrent_forward("lstm", ctx, inputs, params, attrs, train)

    def forward_gru(self, ctx, inputs, params, attrs, train):
        return self._recurrent_forward("gru", ctx, inputs, params, attrs, train)

    backward_rnn = backward_lstm = backward_gru = _recurrent_backward
