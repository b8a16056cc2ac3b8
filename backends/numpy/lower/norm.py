"""Regularisation and normalisation: dropout, batchnorm (over axis 1), PyTorch's LocalResponseNorm."""
from __future__ import annotations

import numpy as np

from . import NUMPY


def _channel_axes(x):
    return (0, *range(2, x.ndim))


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _channel_window_sum(a, before: int, after: int):
    """s[:, c] = sum of a[:, c - before .. c + after] (clipped to the channel range)."""
    channels = a.shape[1]
    cs = np.zeros((a.shape[0], channels + 1, *a.shape[2:]), dtype=a.dtype)
    np.cumsum(a, axis=1, out=cs[:, 1:])
    idx = np.arange(channels)
    return cs[:, np.minimum(idx + after, channels - 1) + 1] - cs[:, np.maximum(idx - before, 0)]


@NUMPY.layer("dropout")
class Dropout:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, p = inputs[0], attrs["p"]
        if not train or p == 0:
            ctx["mask"] = None
            return x
        ctx["mask"] = mask = ops.dropout_mask(x.shape, p)
        return x * mask

    def backward(ops, ctx, grad):
        mask = ctx["mask"]
        return [grad if mask is None else grad * mask], {}


@NUMPY.layer("batchnorm")
class Batchnorm:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        eps, momentum = attrs["eps"], attrs["momentum"]
        axes = _channel_axes(x)
        if train:
            mean = x.mean(axis=axes)
            centred = x - _per_channel(mean, x.ndim)
            var = (centred * centred).mean(axis=axes)
            count = x.size // x.shape[1]
            running_mean, running_var = params["running_mean"], params["running_var"]
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (count / max(count - 1, 1))
            params["num_batches_tracked"] += 1
        else:
            mean, var = params["running_mean"], params["running_var"]
            centred = x - _per_channel(mean, x.ndim)
        inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        xhat = centred * _per_channel(inv_std, x.ndim)
        out = xhat
        if "weight" in params:
            out = xhat * _per_channel(params["weight"], x.ndim) + _per_channel(params["bias"], x.ndim)
        if train:
            ctx.update(xhat=xhat, inv_std=inv_std, weight=params.get("weight"), axes=axes)
        return out

    def backward(ops, ctx, grad):
        xhat, inv_std, weight, axes = ctx["xhat"], ctx["inv_std"], ctx["weight"], ctx["axes"]
        ndim = grad.ndim
        grads = {}
        if weight is not None:
            grads = {"weight": (grad * xhat).sum(axis=axes), "bias": grad.sum(axis=axes)}
            dxhat = grad * _per_channel(weight, ndim)
        else:
            dxhat = grad
        count = grad.size // grad.shape[1]
        mean_d = dxhat.sum(axis=axes) / count
        mean_dx = (dxhat * xhat).sum(axis=axes) / count
        dx = (dxhat - _per_channel(mean_d, ndim) - xhat * _per_channel(mean_dx, ndim)) * _per_channel(inv_std, ndim)
        return [dx], grads


@NUMPY.layer("lrn")
class Lrn:
    """PyTorch's LocalResponseNorm: x / (k + alpha/size * sum of x^2 over the channel window)^beta."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        size, alpha, beta, k = attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"]
        base = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
        scale = base ** -beta
        if train:
            ctx.update(x=x, base=base, scale=scale, attrs=(size, alpha, beta))
        return x * scale

    def backward(ops, ctx, grad):
        x, base, scale = ctx["x"], ctx["base"], ctx["scale"]
        size, alpha, beta = ctx["attrs"]
        t = grad * x * scale / base
        spread = _channel_window_sum(t, (size - 1) // 2, size // 2)
        return [grad * scale - (2 * alpha * beta / size) * x * spread], {}
