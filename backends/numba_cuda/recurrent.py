"""One direction of a CudaOps rnn/lstm/gru layer, and the device-array primitives of the shared stacking.

The stacking (layers, directions, return_sequences) is backends/runtime/recurrent.py's StackedRecurrent,
which lower/recurrent.py registers. Time-major internally (x [T, N, F]). The input projection of every
step is one gemm; each step adds h W_hh^T with a gemm that accumulates into the step's gate buffer, then
a cell kernel. Backward runs the steps in reverse and forms each weight gradient with one gemm.
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


def _direction_backward(cache, dhs, need_dx=True):
    """Gradients of one direction: dx [T, N, F] (None when not need_dx) and (dW_ih, dW_hh, db_ih, db_hh)."""
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
    dx = gemm(flat, w_ih).reshape(steps, batch, w_ih.shape[1]) if need_dx else None
    biases = (None, None)
    if has_bias:
        biases = (channel_sums(flat, flat.shape[1], 1)[0], channel_sums(hidden_side, hidden_side.shape[1], 1)[0])
    return dx, (dw_ih, dw_hh, *biases)


class RecurrentPrimitives:
    """Mixin of CudaOps: the direction loops above plus the device-array primitives StackedRecurrent calls."""

    rnn_direction_forward = staticmethod(_direction_forward)
    rnn_direction_backward = staticmethod(_direction_backward)
    rnn_swap01 = staticmethod(ew.swap01)
    rnn_copy = staticmethod(ew.copy)
    rnn_add = staticmethod(ew.add)
    rnn_mul = staticmethod(ew.mul)

    def rnn_dropout(self, x, p):
        return rnd.dropout(x, p, self.states())

    @staticmethod
    def rnn_concat(parts, axis):
        shape = list(parts[0].shape)
        shape[axis] = sum(part.shape[axis] for part in parts)
        return ew.concat(parts, tuple(shape), axis)

    @staticmethod
    def rnn_split(x, sizes, axis):
        return ew.split(x, sizes, axis)

    @staticmethod
    def rnn_zeros(shape, like):
        return ew.zeros(shape)

    @staticmethod
    def rnn_assign(view, value):
        ew.copy(value, out=view)
