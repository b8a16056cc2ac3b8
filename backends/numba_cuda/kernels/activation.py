"""Activation kernels: every pointwise activation by code (forward and backward), PReLU and log-softmax.

The codes extend elementwise.ACTIVATIONS (the ones the linear and conv kernels apply with their bias add).
Each code reads up to two float32 arguments a and b, taken from its layer's attrs by `arguments`. Arrays are
passed flat; all arithmetic stays float32, as PyTorch defines each activation.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..device import F0, F1, empty, grid1d, launch
from . import elementwise as ew
from .elementwise import flat
from .reduce import channel_sums

CODES = {**ew.ACTIVATIONS, "relu6": 7, "hardtanh": 8, "elu": 9, "selu": 10, "gelu": 11, "silu": 12, "mish": 13,
         "softplus": 14, "hardsigmoid": 15, "hardswish": 16, "binarize": 18}
GELU_TANH = 17                          # gelu with approximate: tanh
FIRST_OWN = 7                           # codes below are elementwise.act's
ARGUMENTS = {"leaky_relu": ("slope",), "hardtanh": ("min", "max"), "elu": ("alpha",), "softplus": ("beta", "threshold")}

HALF, THREE, SIX = np.float32(0.5), np.float32(3.0), np.float32(6.0)
SIXTH = np.float32(1 / 6)
SELU_ALPHA = np.float32(1.6732632423543772848170429916717)
SELU_SCALE = np.float32(1.0507009873554804934193349852946)
SQRT_HALF = np.float32(math.sqrt(0.5))
INV_SQRT_2PI = np.float32(1 / math.sqrt(2 * math.pi))
SQRT_2_OVER_PI = np.float32(math.sqrt(2 / math.pi))
GELU_CUBIC = np.float32(0.044715)


def arguments(name: str, attrs: dict) -> tuple:
    """(code, a, b): the kernels' arguments for activation `name` with its attrs (defaults filled)."""
    code = GELU_TANH if name == "gelu" and attrs["approximate"] == "tanh" else CODES[name]
    values = [np.float32(attrs[key]) for key in ARGUMENTS.get(name, ())]
    a, b = (*values, F0, F0)[:2]
    return code, a, b


@cuda.jit(device=True)
def softplus(x):
    """log(1 + exp(x)), without overflow."""
    return max(x, F0) + math.log1p(math.exp(-abs(x)))


@cuda.jit(device=True)
def gelu_tanh_inner(x):
    return math.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x))


@cuda.jit(device=True)
def value(x, code, a, b):
    """The activation `code` of x (a, b: its arguments)."""
    if code < FIRST_OWN:
        return ew.act(x, code, a)
    if code == 7:
        return min(max(x, F0), SIX)
    if code == 8:
        return min(max(x, a), b)
    if code == 9:
        return x if x > F0 else a * math.expm1(x)
    if code == 10:
        return SELU_SCALE * (x if x > F0 else SELU_ALPHA * math.expm1(x))
    if code == 11:
        return HALF * x * (F1 + math.erf(x * SQRT_HALF))
    if code == 12:
        return x * ew.sigmoid(x)
    if code == 13:
        return x * math.tanh(softplus(x))
    if code == 14:
        return x if a * x > b else softplus(a * x) / a
    if code == 15:
        return min(max(x + THREE, F0), SIX) / SIX
    if code == 16:
        return x * min(max(x + THREE, F0), SIX) / SIX
    if code == 18:
        return F1 if x >= F0 else -F1
    return HALF * x * (F1 + gelu_tanh_inner(x))        # GELU_TANH


@cuda.jit(device=True)
def derivative(x, y, code, a, b):
    """d value / d x from the input x and the output y."""
    if code < FIRST_OWN:
        return ew.act_grad(x, y, code, a)
    if code == 7:
        return F1 if F0 < x < SIX else F0
    if code == 8:
        return F1 if a < x < b else F0
    if code == 9:
        return F1 if x > F0 else y + a
    if code == 10:
        return SELU_SCALE if x > F0 else y + SELU_SCALE * SELU_ALPHA
    if code == 11:
        return HALF * (F1 + math.erf(x * SQRT_HALF)) + x * math.exp(-HALF * x * x) * INV_SQRT_2PI
    if code == 12:
        s = ew.sigmoid(x)
        return s * (F1 + x * (F1 - s))
    if code == 13:
        t = math.tanh(softplus(x))
        return t + x * (F1 - t * t) * ew.sigmoid(x)
    if code == 14:
        return F1 if a * x > b else ew.sigmoid(a * x)
    if code == 15:
        return SIXTH if -THREE < x < THREE else F0
    if code == 16:
        return F0 if x < -THREE else (x / THREE + HALF if x <= THREE else F1)
    if code == 18:
        return F1 if -F1 <= x <= F1 else F0
    t = gelu_tanh_inner(x)
    return HALF * (F1 + t) + HALF * x * (F1 - t * t) * SQRT_2_OVER_PI * (F1 + THREE * GELU_CUBIC * x * x)


@cuda.jit(cache=True)
def _forward(x, y, code, a, b):
    i = cuda.grid(1)
    while i < x.size:
        y[i] = value(x[i], code, a, b)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _backward(x, y, dy, dx, code, a, b):
    i = cuda.grid(1)
    while i < x.size:
        dx[i] = dy[i] * derivative(x[i], y[i], code, a, b)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _prelu(x, weight, y, inner, channels):
    """y = x if x > 0 else weight[channel] * x, channel = (i // inner) % channels."""
    i = cuda.grid(1)
    while i < x.size:
        y[i] = x[i] if x[i] > F0 else weight[(i // inner) % channels] * x[i]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _prelu_backward(x, weight, dy, dx, below, inner, channels):
    """dx, and below = dy * x where x <= 0 (the slope's gradient before its sum per channel)."""
    i = cuda.grid(1)
    while i < x.size:
        positive = x[i] > F0
        dx[i] = dy[i] if positive else weight[(i // inner) % channels] * dy[i]
        below[i] = F0 if positive else dy[i] * x[i]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _log_softmax(x, y, channels, inner):
    """x - max - log(sum exp(x - max)) along the middle axis of x viewed as (outer, channels, inner)."""
    i = cuda.grid(1)
    while i < x.size // channels:
        base = (i // inner) * channels * inner + i % inner
        top = x[base]
        for c in range(1, channels):
            top = max(top, x[base + c * inner])
        total = F0
        for c in range(channels):
            total += math.exp(x[base + c * inner] - top)
        shift = top + math.log(total)
        for c in range(channels):
            y[base + c * inner] = x[base + c * inner] - shift
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _log_softmax_backward(y, dy, dx, channels, inner):
    """dx = dy - exp(y) * sum(dy) along the middle axis."""
    i = cuda.grid(1)
    while i < y.size // channels:
        base = (i // inner) * channels * inner + i % inner
        total = F0
        for c in range(channels):
            total += dy[base + c * inner]
        for c in range(channels):
            k = base + c * inner
            dx[k] = dy[k] - math.exp(y[k]) * total
        i += cuda.gridsize(1)


def activation(x, name: str, attrs: dict, out=None):
    """The pointwise activation `name` (a key of CODES) of x, with its layer's attrs."""
    out = empty(x.shape) if out is None else out
    launch(_forward, grid1d(x.size), flat(x), flat(out), *arguments(name, attrs))
    return out


def activation_backward(x, y, dy, name: str, attrs: dict, out=None):
    """dy * act'(x) from the activation's input x and output y."""
    out = empty(x.shape) if out is None else out
    launch(_backward, grid1d(x.size), flat(x), flat(y), flat(dy), flat(out), *arguments(name, attrs))
    return out


def _inner(x) -> int:
    """Elements per channel and sample of a batch (N, C, ...)."""
    return int(np.prod(x.shape[2:], dtype=np.int64))


def prelu(x, weight):
    """x if x > 0 else weight * x, weight (1,) or one per channel (axis 1 of x)."""
    y = empty(x.shape)
    launch(_prelu, grid1d(x.size), flat(x), weight, flat(y), _inner(x), weight.size)
    return y


def prelu_backward(x, weight, dy):
    """(dx, d weight)."""
    dx, below = empty(x.shape), empty(x.shape)
    inner, channels = _inner(x), weight.size
    launch(_prelu_backward, grid1d(x.size), flat(x), weight, flat(dy), flat(dx), flat(below), inner, channels)
    return dx, channel_sums(below, channels, inner)[0]


def _axis_view(x, axis: int) -> tuple:
    """(channels, inner) of x viewed as (outer, channels, inner) around array axis `axis` (non-negative)."""
    return x.shape[axis], int(np.prod(x.shape[axis + 1:], dtype=np.int64))


def log_softmax(x, axis: int):
    """log(softmax(x)) along array axis `axis` (non-negative)."""
    channels, inner = _axis_view(x, axis)
    y = empty(x.shape)
    launch(_log_softmax, grid1d(x.size // channels), flat(x), flat(y), channels, inner)
    return y


def log_softmax_backward(y, dy, axis: int):
    channels, inner = _axis_view(y, axis)
    dx = empty(y.shape)
    launch(_log_softmax_backward, grid1d(y.size // channels), flat(y), flat(dy), flat(dx), channels, inner)
    return dx


__all__ = ["CODES", "activation", "activation_backward", "arguments", "log_softmax", "log_softmax_backward",
           "prelu", "prelu_backward"]
