"""Recurrent cell steps: LSTM (gates i, f, g, o) and GRU (gates r, z, n) forward and backward, PyTorch rules.

The matrix products (x W_ih^T for all steps at once, h W_hh^T per step) are gemm calls; these
kernels apply the gate nonlinearities and the state updates of one step for the whole batch.
A plain RNN step is a gemm plus an activation kernel.
"""
from __future__ import annotations

import math

from numba import cuda

from ..device import F1, empty, grid1d, launch
from .elementwise import flat, sigmoid

_sig = sigmoid


@cuda.jit(cache=True)
def _lstm_step(gates, c_prev, c, h, hidden):
    """gates (N, 4H) pre-activations in, activations out (in place); c, h (N, H)."""
    i = cuda.grid(1)
    while i < c.size:
        n = i // hidden
        j = i % hidden
        base = n * 4 * hidden + j
        ig = _sig(gates[base])
        fg = _sig(gates[base + hidden])
        gg = math.tanh(gates[base + 2 * hidden])
        og = _sig(gates[base + 3 * hidden])
        gates[base] = ig
        gates[base + hidden] = fg
        gates[base + 2 * hidden] = gg
        gates[base + 3 * hidden] = og
        cell = fg * c_prev[i] + ig * gg
        c[i] = cell
        h[i] = og * math.tanh(cell)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _lstm_step_back(acts, c_prev, c, dh_out, dh_next, dc_next, dgates, dc_prev, hidden):
    """From dh = dh_out + dh_next and dc_next: pre-activation gate gradients and dc for the previous step."""
    i = cuda.grid(1)
    while i < c.size:
        n = i // hidden
        j = i % hidden
        base = n * 4 * hidden + j
        ig = acts[base]
        fg = acts[base + hidden]
        gg = acts[base + 2 * hidden]
        og = acts[base + 3 * hidden]
        dh = dh_out[i] + dh_next[i]
        tc = math.tanh(c[i])
        dc = dh * og * (F1 - tc * tc) + dc_next[i]
        dgates[base] = dc * gg * ig * (F1 - ig)
        dgates[base + hidden] = dc * c_prev[i] * fg * (F1 - fg)
        dgates[base + 2 * hidden] = dc * ig * (F1 - gg * gg)
        dgates[base + 3 * hidden] = dh * tc * og * (F1 - og)
        dc_prev[i] = dc * fg
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _gru_step(gx, gh, h_prev, h, acts, hidden):
    """gx = x W_ih^T + b_ih, gh = h W_hh^T + b_hh (N, 3H); acts (N, 3H) keeps r, z, n; h (N, H)."""
    i = cuda.grid(1)
    while i < h.size:
        n = i // hidden
        j = i % hidden
        base = n * 3 * hidden + j
        r = _sig(gx[base] + gh[base])
        z = _sig(gx[base + hidden] + gh[base + hidden])
        cand = math.tanh(gx[base + 2 * hidden] + r * gh[base + 2 * hidden])
        acts[base] = r
        acts[base + hidden] = z
        acts[base + 2 * hidden] = cand
        h[i] = cand + z * (h_prev[i] - cand)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _gru_step_back(acts, gh, h_prev, dh_out, dh_next, dgx, dgh, dh_prev, hidden):
    """Gate gradients on the input side (dgx) and hidden side (dgh), and the direct part of dh_prev."""
    i = cuda.grid(1)
    while i < h_prev.size:
        n = i // hidden
        j = i % hidden
        base = n * 3 * hidden + j
        r = acts[base]
        z = acts[base + hidden]
        cand = acts[base + 2 * hidden]
        dh = dh_out[i] + dh_next[i]
        dn = dh * (F1 - z) * (F1 - cand * cand)
        dr = dn * gh[base + 2 * hidden] * r * (F1 - r)
        dz = dh * (h_prev[i] - cand) * z * (F1 - z)
        dgx[base] = dr
        dgx[base + hidden] = dz
        dgx[base + 2 * hidden] = dn
        dgh[base] = dr
        dgh[base + hidden] = dz
        dgh[base + 2 * hidden] = dn * r
        dh_prev[i] = dh * z
        i += cuda.gridsize(1)


def lstm_step(gates, c_prev, hidden, c, h):
    """Apply one LSTM step: gates become activations in place; writes the cell c and output h."""
    launch(_lstm_step, grid1d(c.size), flat(gates), flat(c_prev), flat(c), flat(h), hidden)


def lstm_step_back(acts, c_prev, c, dh_out, dh_next, dc_next, hidden, dgates):
    """Writes one LSTM step's pre-activation gate gradients into dgates; returns dc_prev."""
    dc_prev = empty(c.shape)
    launch(_lstm_step_back, grid1d(c.size), flat(acts), flat(c_prev), flat(c), flat(dh_out), flat(dh_next),
           flat(dc_next), flat(dgates), flat(dc_prev), hidden)
    return dc_prev


def gru_step(gx, gh, h_prev, hidden, h_out, acts_out):
    launch(_gru_step, grid1d(h_prev.size), flat(gx), flat(gh), flat(h_prev), flat(h_out), flat(acts_out), hidden)


def gru_step_back(acts, gh, h_prev, dh_out, dh_next, hidden, dgx_out, dgh_out):
    """Writes dgx/dgh; returns the direct part of dh_prev (dh * z)."""
    dh_prev = empty(h_prev.shape)
    launch(_gru_step_back, grid1d(h_prev.size), flat(acts), flat(gh), flat(h_prev), flat(dh_out), flat(dh_next),
           flat(dgx_out), flat(dgh_out), flat(dh_prev), hidden)
    return dh_prev


__all__ = ["gru_step", "gru_step_back", "lstm_step", "lstm_step_back"]
