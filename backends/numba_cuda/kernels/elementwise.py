"""Elementwise kernels: activations (forward, backward, fused with a bias), fills, sums, products, slabs.

Arrays are passed flat (1-D views of contiguous device arrays); all arithmetic stays float32.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..device import F0, F1, F2, empty, grid1d, launch

ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4, "step": 5, "sign": 6}


EXP_LIMIT = np.float32(60.0)


@cuda.jit(device=True)
def sigmoid(x):
    """1 / (1 + exp(-x)) with the exponent clamped (no overflow for very negative x)."""
    return F1 / (F1 + math.exp(min(-x, EXP_LIMIT)))


@cuda.jit(device=True)
def act(x, code, slope):
    """The activation `code` of x (codes in ACTIVATIONS)."""
    if code == 1:
        return max(F0, x)
    if code == 2:
        return x if x > F0 else x * slope
    if code == 3:
        return sigmoid(x)
    if code == 4:
        return math.tanh(x)
    if code == 5:
        return F1 if x > F0 else F0
    if code == 6:
        return F1 if x > F0 else (-F1 if x < F0 else F0)
    return x


@cuda.jit(device=True)
def act_grad(x, y, code, slope):
    """d act / d x from the input x and the output y."""
    if code == 1:
        return F1 if x > F0 else F0
    if code == 2:
        return F1 if x > F0 else slope
    if code == 3:
        return y * (F1 - y)
    if code == 4:
        return F1 - y * y
    if code == 5 or code == 6:
        return F0
    return F1


@cuda.jit(cache=True)
def _fill(x, value):
    i = cuda.grid(1)
    while i < x.size:
        x[i] = value
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _act_forward(x, y, code, slope):
    i = cuda.grid(1)
    while i < x.size:
        y[i] = act(x[i], code, slope)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _act_backward(x, y, dy, dx, code, slope):
    i = cuda.grid(1)
    while i < x.size:
        dx[i] = dy[i] * act_grad(x[i], y[i], code, slope)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _bias_act(x, bias, y, inner, channels, code, slope):
    """y = act(x + bias[channel]) where channel = (i // inner) % channels; x may be y."""
    i = cuda.grid(1)
    while i < x.size:
        y[i] = act(x[i] + bias[(i // inner) % channels], code, slope)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _axpby(x, y, out, a, b):
    i = cuda.grid(1)
    while i < out.size:
        out[i] = a * x[i] + b * y[i]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _mul(x, y, out):
    i = cuda.grid(1)
    while i < out.size:
        out[i] = x[i] * y[i]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _slab(part, whole, part_len, whole_len, offset, inner, to_whole, accumulate):
    """Copy between part (outer, part_len, inner) and whole (outer, whole_len, inner) at `offset`."""
    i = cuda.grid(1)
    block = part_len * inner
    while i < part.size:
        j = (i // block) * whole_len * inner + offset * inner + i % block
        if to_whole:
            whole[j] = part[i]
        elif accumulate:
            part[i] += whole[j]
        else:
            part[i] = whole[j]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _softmax(x, y, channels, inner):
    """Softmax along the middle axis of x viewed as (outer, channels, inner)."""
    i = cuda.grid(1)
    while i < x.size // channels:
        base = (i // inner) * channels * inner + i % inner
        top = x[base]
        for c in range(1, channels):
            top = max(top, x[base + c * inner])
        total = F0
        for c in range(channels):
            e = math.exp(x[base + c * inner] - top)
            y[base + c * inner] = e
            total += e
        for c in range(channels):
            y[base + c * inner] /= total
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _softmax_backward(y, dy, dx, channels, inner):
    i = cuda.grid(1)
    while i < y.size // channels:
        base = (i // inner) * channels * inner + i % inner
        dot = F0
        for c in range(channels):
            dot += dy[base + c * inner] * y[base + c * inner]
        for c in range(channels):
            k = base + c * inner
            dx[k] = y[k] * (dy[k] - dot)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _swap01(x, y, a, b, inner):
    """y (b, a, inner) = x (a, b, inner) with the first two axes swapped."""
    i = cuda.grid(1)
    while i < x.size:
        k = i % inner
        j = (i // inner) % b
        r = i // (inner * b)
        y[(j * a + r) * inner + k] = x[i]
        i += cuda.gridsize(1)


def softmax(x, axis: int):
    """Softmax along array axis `axis` (non-negative)."""
    channels = x.shape[axis]
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    y = empty(x.shape)
    launch(_softmax, grid1d(x.size // channels), flat(x), flat(y), channels, inner)
    return y


def softmax_backward(y, dy, axis: int):
    channels = y.shape[axis]
    inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
    dx = empty(y.shape)
    launch(_softmax_backward, grid1d(y.size // channels), flat(y), flat(dy), flat(dx), channels, inner)
    return dx


def swap01(x):
    """(a, b, ...) -> (b, a, ...) as a new contiguous array."""
    a, b = x.shape[0], x.shape[1]
    inner = int(np.prod(x.shape[2:], dtype=np.int64))
    y = empty((b, a, *x.shape[2:]))
    launch(_swap01, grid1d(x.size), flat(x), flat(y), a, b, inner)
    return y


def flat(a):
    return a.reshape(a.size)


def fill(a, value: float):
    launch(_fill, grid1d(a.size), flat(a), np.float32(value))
    return a


def zeros(shape):
    return fill(empty(shape), 0.0)


def activation(x, name: str, slope: float = 0.0, out=None):
    """act(x) for an activation name in ACTIVATIONS; `slope` is leaky_relu's (its layer's attr), unread by the rest."""
    out = empty(x.shape) if out is None else out
    launch(_act_forward, grid1d(x.size), flat(x), flat(out), ACTIVATIONS[name], np.float32(slope))
    return out


def activation_backward(x, y, dy, name: str, slope: float = 0.0, out=None):
    """dy * act'(x) from the input x and output y (relu and leaky_relu read x's sign, sigmoid and tanh y)."""
    out = empty(x.shape) if out is None else out
    launch(_act_backward, grid1d(x.size), flat(x), flat(y), flat(dy), flat(out), ACTIVATIONS[name], np.float32(slope))
    return out


def bias_activation(x, bias, inner: int, name: str = "identity", slope: float = 0.0, out=None):
    """act(x + bias) with the bias broadcast along axis 1 of x viewed as (outer, channels, inner); in place by default."""
    out = x if out is None else out
    launch(_bias_act, grid1d(x.size), flat(x), bias, flat(out), int(inner), int(bias.size), ACTIVATIONS[name],
           np.float32(slope))
    return out


def axpby(x, y, a: float, b: float, out=None):
    """a*x + b*y (out may alias x or y)."""
    out = empty(x.shape) if out is None else out
    launch(_axpby, grid1d(out.size), flat(x), flat(y), flat(out), np.float32(a), np.float32(b))
    return out


def add(x, y, out=None):
    return axpby(x, y, 1.0, 1.0, out)


def scale(x, a: float, out=None):
    return axpby(x, x, a, 0.0, out)


def copy(x, out=None):
    return axpby(x, x, 1.0, 0.0, out)


def mul(x, y, out=None):
    out = empty(x.shape) if out is None else out
    launch(_mul, grid1d(out.size), flat(x), flat(y), flat(out))
    return out


def concat(parts, whole_shape, axis: int, out=None):
    """Join (batch, ...) arrays along `axis` (counted with the batch axis) into a new array (or `out`)."""
    whole = empty(whole_shape) if out is None else out
    inner = int(np.prod(whole_shape[axis + 1:], dtype=np.int64))
    offset = 0
    for part in parts:
        length = part.shape[axis]
        launch(_slab, grid1d(part.size), flat(part), flat(whole), length, whole_shape[axis], offset, inner, True, False)
        offset += length
    return whole


def split(whole, lengths, axis: int, accumulate_into=None):
    """The inverse of concat: slabs of `whole` along `axis` (added into `accumulate_into` arrays when given)."""
    inner = int(np.prod(whole.shape[axis + 1:], dtype=np.int64))
    outs, offset = [], 0
    for index, length in enumerate(lengths):
        shape = (*whole.shape[:axis], length, *whole.shape[axis + 1:])
        part = accumulate_into[index] if accumulate_into is not None else empty(shape)
        launch(_slab, grid1d(part.size), flat(part), flat(whole), length, whole.shape[axis], offset, inner, False,
               accumulate_into is not None)
        outs.append(part)
        offset += length
    return outs


__all__ = [
    "ACTIVATIONS",
    "F2",
    "act",
    "act_grad",
    "activation",
    "activation_backward",
    "add",
    "axpby",
    "bias_activation",
    "concat",
    "copy",
    "fill",
    "flat",
    "mul",
    "scale",
    "softmax",
    "softmax_backward",
    "split",
    "swap01",
    "zeros",
]
