"""Regularisation and normalisation: dropout, batchnorm (over axis 1), PyTorch's LocalResponseNorm, and the
per-sample norms (layernorm, groupnorm, instancenorm), which normalise rows of the input viewed as [rows, K]."""
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


def _normalise_rows(x2, eps: float):
    """(xhat, inv_std) of every row of x2 [R, K], with the biased variance (the same in training and eval)."""
    centred = x2 - x2.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + eps)
    return centred * inv_std, inv_std


def _rows_backward(dxhat2, xhat2, inv_std):
    """The gradient through _normalise_rows: inv_std * (d - mean(d) - xhat * mean(d * xhat)) per row."""
    return inv_std * (dxhat2 - dxhat2.mean(axis=1, keepdims=True)
                      - xhat2 * (dxhat2 * xhat2).mean(axis=1, keepdims=True))


@NUMPY.layer("layernorm")
class LayerNorm:
    """Rows: everything before the last `dims` axes; an elementwise affine over the normalised shape."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        size = int(np.prod(x.shape[x.ndim - attrs["dims"]:]))
        xhat, inv_std = _normalise_rows(x.reshape(-1, size), attrs["eps"])
        weight = params.get("weight")
        out = xhat if weight is None else xhat * weight.reshape(-1) + params["bias"].reshape(-1)
        if train:
            ctx.update(xhat=xhat, inv_std=inv_std, weight=weight)
        return out.reshape(x.shape)

    def backward(ops, ctx, grad):
        xhat, weight = ctx["xhat"], ctx["weight"]
        g2 = grad.reshape(xhat.shape)
        grads = {}
        if weight is not None:
            grads = {"weight": (g2 * xhat).sum(axis=0).reshape(weight.shape), "bias": g2.sum(axis=0).reshape(weight.shape)}
            g2 = g2 * weight.reshape(-1)
        return [_rows_backward(g2, xhat, ctx["inv_std"]).reshape(grad.shape)], grads


def _grouped_forward(ctx, x, params, groups: int, eps: float, train: bool):
    """Rows: `groups` runs of channels of each sample; a per-channel affine."""
    xhat2, inv_std = _normalise_rows(x.reshape(x.shape[0] * groups, -1), eps)
    xhat = xhat2.reshape(x.shape)
    weight = params.get("weight")
    out = xhat if weight is None else xhat * _per_channel(weight, x.ndim) + _per_channel(params["bias"], x.ndim)
    if train:
        ctx.update(xhat=xhat, inv_std=inv_std, weight=weight)
    return out


def _grouped_backward(ctx, grad):
    xhat, weight, inv_std = ctx["xhat"], ctx["weight"], ctx["inv_std"]
    grads = {}
    if weight is not None:
        axes = _channel_axes(grad)
        grads = {"weight": (grad * xhat).sum(axis=axes), "bias": grad.sum(axis=axes)}
        grad = grad * _per_channel(weight, grad.ndim)
    rows = inv_std.shape[0]
    return [_rows_backward(grad.reshape(rows, -1), xhat.reshape(rows, -1), inv_std).reshape(grad.shape)], grads


@NUMPY.layer("groupnorm")
class GroupNorm:
    def forward(ops, ctx, inputs, params, attrs, train):
        return _grouped_forward(ctx, inputs[0], params, attrs["groups"], attrs["eps"], train)

    def backward(ops, ctx, grad):
        return _grouped_backward(ctx, grad)


@NUMPY.layer("instancenorm")
class InstanceNorm:
    """Group normalisation with one channel per group."""

    def forward(ops, ctx, inputs, params, attrs, train):
        return _grouped_forward(ctx, inputs[0], params, inputs[0].shape[1], attrs["eps"], train)

    def backward(ops, ctx, grad):
        return _grouped_backward(ctx, grad)
