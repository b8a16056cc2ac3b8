"""dropout, batchnorm and lrn."""
from __future__ import annotations

from ..kernels import elementwise as ew
from ..kernels import norm
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
