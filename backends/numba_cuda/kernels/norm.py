"""Batch normalisation (training statistics, running statistics, eval) and local response normalisation."""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..device import F0, F1, empty, grid1d, launch
from .elementwise import flat
from .reduce import channel_sums


@cuda.jit(cache=True)
def _bn_stats(sum_x, sum_sq, mean, inv_std, running_mean, running_var, count, eps, momentum, update):
    """The batch mean from sum_x; when `update`, also 1/std from the centred sum_sq and the running statistics."""
    c = cuda.grid(1)
    while c < mean.size:
        m = sum_x[c] / count
        mean[c] = m
        if update:
            var = sum_sq[c] / count
            inv_std[c] = F1 / math.sqrt(var + eps)
            unbiased = var * count / max(count - F1, F1)
            running_mean[c] = (F1 - momentum) * running_mean[c] + momentum * m
            running_var[c] = (F1 - momentum) * running_var[c] + momentum * unbiased
        c += cuda.gridsize(1)


@cuda.jit(cache=True)
def _bn_eval_stats(running_var, inv_std, eps):
    c = cuda.grid(1)
    while c < inv_std.size:
        inv_std[c] = F1 / math.sqrt(running_var[c] + eps)
        c += cuda.gridsize(1)


@cuda.jit(cache=True)
def _bn_apply(x, mean, inv_std, weight, bias, y, channels, inner, affine):
    i = cuda.grid(1)
    while i < x.size:
        c = (i // inner) % channels
        v = (x[i] - mean[c]) * inv_std[c]
        y[i] = v * weight[c] + bias[c] if affine else v
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _bn_backward(x, dy, mean, inv_std, weight, sum_dy, sum_dy_xc, dx, channels, inner, count, affine):
    """dx = w/std * (dy - mean(dy) - xhat * mean(dy * xhat)) with the means over a channel's positions."""
    i = cuda.grid(1)
    while i < x.size:
        c = (i // inner) % channels
        s = inv_std[c]
        w = weight[c] if affine else F1
        xhat = (x[i] - mean[c]) * s
        dx[i] = w * s * (dy[i] - sum_dy[c] / count - xhat * sum_dy_xc[c] * s / count)
        i += cuda.gridsize(1)


def batchnorm_forward(x, weight, bias, running_mean, running_var, eps, momentum, train):
    """(y, mean, inv_std) over x (batch, C, ...); running stats updated in place when training."""
    channels = x.shape[1]
    inner = x.size // (x.shape[0] * channels)
    mean, inv_std = empty((channels,)), empty((channels,))
    affine = weight is not None
    if train:
        count = np.float32(x.size // channels)
        sum_x, _ = channel_sums(x, channels, inner)
        launch(_bn_stats, grid1d(channels), sum_x, sum_x, mean, inv_std, running_mean, running_var, count,
               np.float32(eps), np.float32(momentum), False)
        _, sum_sq = channel_sums(x, channels, inner, mx=mean)       # centred second pass: no cancellation
        launch(_bn_stats, grid1d(channels), sum_x, sum_sq, mean, inv_std, running_mean, running_var, count,
               np.float32(eps), np.float32(momentum), True)
    else:
        mean = running_mean
        launch(_bn_eval_stats, grid1d(channels), running_var, inv_std, np.float32(eps))
    y = empty(x.shape)
    launch(_bn_apply, grid1d(x.size), flat(x), mean, inv_std, weight if affine else mean, bias if affine else mean,
           flat(y), channels, inner, affine)
    return y, mean, inv_std


def batchnorm_backward(x, dy, mean, inv_std, weight):
    """(dx, dweight, dbias) of a training-mode batchnorm."""
    channels = x.shape[1]
    inner = x.size // (x.shape[0] * channels)
    sum_dy, sum_dy_xc = channel_sums(dy, channels, inner, y=x, my=mean)
    dx = empty(x.shape)
    affine = weight is not None
    launch(_bn_backward, grid1d(x.size), flat(x), flat(dy), mean, inv_std, weight if affine else mean, sum_dy,
           sum_dy_xc, flat(dx), channels, inner, np.float32(x.size // channels), affine)
    if not affine:
        return dx, None, None
    from .elementwise import mul
    return dx, mul(sum_dy_xc, inv_std), sum_dy


@cuda.jit(cache=True)
def _lrn_forward(x, y, base, channels, inner, size, alpha_n, beta, k):
    i = cuda.grid(1)
    while i < x.size:
        c = (i // inner) % channels
        first = i - c * inner          # the same position in channel 0
        total = F0
        for cc in range(max(c - size // 2, 0), min(c + (size - 1) // 2, channels - 1) + 1):
            v = x[first + cc * inner]
            total += v * v
        b = k + alpha_n * total
        base[i] = b
        y[i] = x[i] * b ** -beta
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _lrn_backward(x, base, dy, dx, channels, inner, size, alpha_n, beta):
    i = cuda.grid(1)
    two = np.float32(2.0)
    while i < x.size:
        c = (i // inner) % channels
        first = i - c * inner
        spread = F0
        for cc in range(max(c - (size - 1) // 2, 0), min(c + size // 2, channels - 1) + 1):
            j = first + cc * inner
            spread += dy[j] * x[j] * base[j] ** (-beta - F1)
        dx[i] = dy[i] * base[i] ** -beta - two * alpha_n * beta * x[i] * spread
        i += cuda.gridsize(1)


def lrn_forward(x, size, alpha, beta, k):
    """(y, base) of PyTorch's LocalResponseNorm over x (batch, C, ...)."""
    channels = x.shape[1]
    inner = x.size // (x.shape[0] * channels)
    y, base = empty(x.shape), empty(x.shape)
    launch(_lrn_forward, grid1d(x.size), flat(x), flat(y), flat(base), channels, inner, int(size),
           np.float32(alpha / size), np.float32(beta), np.float32(k))
    return y, base


def lrn_backward(x, base, dy, size, alpha, beta):
    channels = x.shape[1]
    inner = x.size // (x.shape[0] * channels)
    dx = empty(x.shape)
    launch(_lrn_backward, grid1d(x.size), flat(x), flat(base), flat(dy), flat(dx), channels, inner, int(size),
           np.float32(alpha / size), np.float32(beta))
    return dx


__all__ = ["batchnorm_backward", "batchnorm_forward", "lrn_backward", "lrn_forward"]
