"""dropout, batchnorm, lrn and the per-sample norms (layernorm, groupnorm, instancenorm)."""
from __future__ import annotations

from ..kernels import elementwise as ew
from ..kernels import norm, rownorm
from ..kernels import random as rnd
from . import CUDA


@CUDA.layer("dropout")
class Dropout:
    """Inverted dropout with a mask drawn on the device in training; the identity in evaluation."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, p = inputs[0], attrs["p"]
        if not train or p == 0:
            ctx["mask"] = None
            return x
        y, ctx["mask"] = rnd.dropout(x, p, ops.states())
        return y

    def backward(ops, ctx, grad):
        mask = ctx["mask"]
        return [grad if mask is None else ew.mul(grad, mask)], {}


@CUDA.layer("batchnorm")
class BatchNorm:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        y, mean, inv_std = norm.batchnorm_forward(x, params.get("weight"), params.get("bias"), params["running_mean"],
                                                  params["running_var"], attrs["eps"], attrs["momentum"], train)
        if train:
            if "num_batches_tracked" in params:
                params["num_batches_tracked"] += 1          # a host-side 0-d counter
            ctx.update(x=x, mean=mean, inv_std=inv_std, weight=params.get("weight"))
        return y

    def backward(ops, ctx, grad):
        dx, dweight, dbias = norm.batchnorm_backward(ctx["x"], grad, ctx["mean"], ctx["inv_std"], ctx["weight"])
        return [dx], ({"weight": dweight, "bias": dbias} if dweight is not None else {})


@CUDA.layer("lrn")
class LocalResponseNorm:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        y, base = norm.lrn_forward(x, attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"])
        if train:
            ctx.update(x=x, base=base, attrs=(attrs["size"], attrs["alpha"], attrs["beta"]))
        return y

    def backward(ops, ctx, grad):
        return [norm.lrn_backward(ctx["x"], ctx["base"], grad, *ctx["attrs"])], {}


def _rownorm_forward(ctx, x, params, rows: int, inner: int, period: int, eps: float, train: bool):
    y, xhat, inv_std = rownorm.rownorm_forward(x, rows, eps, params.get("weight"), params.get("bias"), inner, period)
    if train:
        ctx.update(xhat=xhat, inv_std=inv_std, weight=params.get("weight"), inner=inner, period=period)
    return y


def _rownorm_backward(ctx, grad):
    dx, dweight, dbias = rownorm.rownorm_backward(grad, ctx["xhat"], ctx["inv_std"], ctx["weight"], ctx["inner"],
                                                  ctx["period"])
    return [dx], ({"weight": dweight, "bias": dbias} if dweight is not None else {})


@CUDA.layer("layernorm")
class LayerNorm:
    """Rows: everything before the last `dims` axes; the affine is elementwise over the normalised shape."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        size = 1
        for d in x.shape[len(x.shape) - attrs["dims"]:]:
            size *= d
        return _rownorm_forward(ctx, x, params, x.size // size, 1, size, attrs["eps"], train)

    def backward(ops, ctx, grad):
        return _rownorm_backward(ctx, grad)


def _grouped(ctx, x, params, groups: int, eps: float, train: bool):
    """Rows: `groups` runs of channels of each sample; a per-channel affine."""
    channels = x.shape[1]
    inner = x.size // (x.shape[0] * channels)
    return _rownorm_forward(ctx, x, params, x.shape[0] * groups, inner, channels, eps, train)


@CUDA.layer("groupnorm")
class GroupNorm:
    def forward(ops, ctx, inputs, params, attrs, train):
        return _grouped(ctx, inputs[0], params, attrs["groups"], attrs["eps"], train)

    def backward(ops, ctx, grad):
        return _rownorm_backward(ctx, grad)


@CUDA.layer("instancenorm")
class InstanceNorm:
    """Group normalisation with one channel per group."""

    def forward(ops, ctx, inputs, params, attrs, train):
        return _grouped(ctx, inputs[0], params, inputs[0].shape[1], attrs["eps"], train)

    def backward(ops, ctx, grad):
        return _rownorm_backward(ctx, grad)
