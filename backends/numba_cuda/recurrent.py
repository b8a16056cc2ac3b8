"""CudaOps rnn/lstm/gru layers: multi-layer, bidirectional, return_sequences, PyTorch layouts.

Time-major internally (x [T, N, F]). The input projection of every step is one gemm; each step
adds h W_hh^T with a gemm that accumulates into the step's gate buffer, then a cell kernel.
Backward runs the steps in reverse and forms each weight gradient with one gemm.
"""
from __future__ import annotations

from .device import empty
from .kernels import elementwise as ew
from .kernels import random as rnd
from .kernels import recurrent as cells
from .kernels.matmul import gemm
from .kernels.reduce import channel_sums


def _shifted(hs, reverse):
    """The previous hidden state of every step: hs shifted by one step, zeros at the start."""
    prev = ew.zeros(hs.shape)
    steps = hs.shape[0]
    if steps > 1:
        if reverse:
            ew.copy(hs[1:], out=prev[:steps - 1])
        else:
            ew.copy(hs[:steps - 1], out=prev[1:])
    return prev


def _direction_forward(op, x, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity):
    steps, batch, features = x.shape
    hidden = w_hh.shape[1]
    xw = gemm(x.reshape(steps * batch, features), w_ih, trans_b=True)
    if b_ih is not None:
        ew.bias_activation(xw, b_ih, 1)
        if op != "gru":
            ew.bias_activation(xw, b_hh, 1)
    xw = xw.reshape(steps, batch, xw.shape[1])
    h = ew.zeros((batch, hidden))
    c = ew.zeros((batch, hidden))
    hs = empty((steps, batch, hidden))
    cell_states = empty((steps, batch, hidden)) if op == "lstm" else None
    acts = xw if op != "gru" else empty(xw.shape)       # lstm/rnn turn the projection into activations in place
    hidden_proj = empty(xw.shape) if op == "gru" else None
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        if op == "lstm":
            gemm(h, w_hh, c=acts[t], trans_b=True, beta=1.0)
            cells.lstm_step(acts[t], c, hidden, cell_states[t], hs[t])
            c = cell_states[t]
        elif op == "gru":
            gh = gemm(h, w_hh, c=hidden_proj[t], trans_b=True)
            if b_hh is not None:
                ew.bias_activation(gh, b_hh, 1)
            cells.gru_step(xw[t], gh, h, hidden, hs[t], acts[t])
        else:
            gemm(h, w_hh, c=acts[t], trans_b=True, beta=1.0)
            ew.activation(acts[t], nonlinearity, out=hs[t])
        h = hs[t]
    return hs, (op, x, w_ih, w_hh, b_ih is not None, reverse, nonlinearity, hs, acts, cell_states, hidden_proj)


def _direction_backward(cache, dhs):
    op, x, w_ih, w_hh, has_bias, reverse, nonlinearity, hs, acts, cell_states, hidden_proj = cache
    steps, batch, hidden = dhs.shape
    dgates = empty(acts.shape)
    dhw = empty(acts.shape) if op == "gru" else None
    prev = _shifted(hs, reverse)
    prev_c = _shifted(cell_states, reverse) if op == "lstm" else None
    dh_next = ew.zeros((batch, hidden))
    dc_next = ew.zeros((batch, hidden))
    for t in (range(steps) if reverse else range(steps - 1, -1, -1)):
        if op == "lstm":
            dc_next = cells.lstm_step_back(acts[t], prev_c[t], cell_states[t], dhs[t], dh_next, dc_next, hidden,
                                           dgates[t])
            dh_next = gemm(dgates[t], w_hh)
        elif op == "gru":
            dh_prev = cells.gru_step_back(acts[t], hidden_proj[t], prev[t], dhs[t], dh_next, hidden, dgates[t],
                                          dhw[t])
            dh_next = gemm(dhw[t], w_hh, c=dh_prev, beta=1.0)
        else:
            dh = ew.add(dhs[t], dh_next)
            ew.activation_backward(hs[t], hs[t], dh, nonlinearity, out=dgates[t])
            dh_next = gemm(dgates[t], w_hh)
    rows = steps * batch
    flat = dgates.reshape(rows, dgates.shape[2])
    hidden_side = flat if dhw is None else dhw.reshape(rows, dhw.shape[2])
    dw_ih = gemm(flat, x.reshape(rows, x.shape[2]), trans_a=True)
    dw_hh = gemm(hidden_side, prev.reshape(rows, hidden), trans_a=True)
    dx = gemm(flat, w_ih).reshape(steps, batch, w_ih.shape[1])
    biases = (None, None)
    if has_bias:
        biases = (channel_sums(flat, flat.shape[1], 1)[0], channel_sums(hidden_side, hidden_side.shape[1], 1)[0])
    return dx, (dw_ih, dw_hh, *biases)


class RecurrentOps:
    """Mixin of CudaOps: rnn, lstm and gru."""

    def _recurrent_forward(self, op, ctx, inputs, params, attrs, train):
        x = ew.swap01(inputs[0])                                   # [T, N, F]
        directions = ("", "_reverse") if attrs.get("bidirectional") else ("",)
        dropout = attrs.get("dropout", 0.0) if train else 0.0
        hidden = attrs["hidden"]
        caches, masks = [], []
        for layer in range(attrs.get("layers", 1)):
            if layer and dropout:
                x, mask = rnd.dropout(x, dropout, self.states())
                masks.append(mask)
            outs, layer_caches = [], []
            for suffix in directions:
                key = f"l{layer}{suffix}"
                hs, cache = _direction_forward(op, x, params[f"weight_ih_{key}"], params[f"weight_hh_{key}"],
                                               params.get(f"bias_ih_{key}"), params.get(f"bias_hh_{key}"),
                                               bool(suffix), attrs.get("nonlinearity", "tanh"))
                outs.append(hs)
                layer_caches.append(cache)
            caches.append(layer_caches)
            x = outs[0] if len(outs) == 1 else ew.concat(outs, (*outs[0].shape[:2], hidden * len(outs)), 2)
        steps = x.shape[0]
        if train:
            ctx.update(caches=caches, masks=masks, directions=directions, attrs=attrs, steps=steps)
        if attrs.get("return_sequences"):
            return ew.swap01(x)
        if len(directions) == 1:
            return ew.copy(x[steps - 1])
        first = ew.split(x[steps - 1], [hidden, hidden], 1)[0]
        second = ew.split(x[0], [hidden, hidden], 1)[1]
        return ew.concat([first, second], (x.shape[1], 2 * hidden), 1)

    def _recurrent_backward(self, ctx, grad):
        attrs, directions, caches = ctx["attrs"], ctx["directions"], ctx["caches"]
        hidden, steps = attrs["hidden"], ctx["steps"]
        width = hidden * len(directions)
        if attrs.get("return_sequences"):
            dout = ew.swap01(grad)
        else:
            dout = ew.zeros((steps, grad.shape[0], width))
            if len(directions) == 1:
                ew.copy(grad, out=dout[steps - 1])
            else:
                forward_part, backward_part = ew.split(grad, [hidden, hidden], 1)
                ew.concat([forward_part, ew.zeros(forward_part.shape)], (grad.shape[0], width), 1,
                          out=dout[steps - 1])
                ew.concat([ew.zeros(backward_part.shape), backward_part], (grad.shape[0], width), 1, out=dout[0])
        grads = {}
        for layer in range(len(caches) - 1, -1, -1):
            parts = ew.split(dout, [hidden] * len(directions), 2) if len(directions) > 1 else [dout]
            dx = None
            for index, suffix in enumerate(directions):
                d_in, (dw_ih, dw_hh, db_ih, db_hh) = _direction_backward(caches[layer][index], parts[index])
                key = f"l{layer}{suffix}"
                grads[f"weight_ih_{key}"], grads[f"weight_hh_{key}"] = dw_ih, dw_hh
                if db_ih is not None:
                    grads[f"bias_ih_{key}"], grads[f"bias_hh_{key}"] = db_ih, db_hh
                dx = d_in if dx is None else ew.add(dx, d_in)
            if layer and ctx["masks"]:
                dx = ew.mul(dx, ctx["masks"][layer - 1])
            dout = dx
        return [ew.swap01(dout)], grads

    def forward_rnn(self, ctx, inputs, params, attrs, train):
        return self._recurrent_forward("rnn", ctx, inputs, params, attrs, train)

    def forward_lstm(self, ctx, inputs, params, attrs, train):
        return self._recurrent_forward("lstm", ctx, inputs, params, attrs, train)

    def forward_gru(self, ctx, inputs, params, attrs, train):
        return self._recurrent_forward("gru", ctx, inputs, params, attrs, train)

    backward_rnn = backward_lstm = backward_gru = _recurrent_backward
