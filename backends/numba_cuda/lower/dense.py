"""linear: one gemm, the bias and a fused relu/leaky_relu in one pass."""
from __future__ import annotations

from ..kernels.matmul import gemm
from . import CUDA
from .common import FUSED, activation_grad, bias_activation, bias_grad


def rows(x):
    """x as a matrix: every leading axis folded into the rows."""
    features = x.shape[len(x.shape) - 1]
    return x.reshape(x.size // features, features)


@CUDA.layer("linear", fuses=FUSED)
class Linear:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        x2 = rows(x)
        y = gemm(x2, weight, trans_b=True)
        act = bias_activation(ctx, y, params, 1)
        if train:
            ctx.update(x2=x2, x_shape=x.shape, weight=weight, has_bias="bias" in params, act_out=y if act else None)
        return y.reshape(*x.shape[:-1], weight.shape[0])

    def backward(ops, ctx, grad):
        """Also the rbm's backward (energy.py), whose forward leaves the same ctx."""
        g2 = rows(activation_grad(ctx, grad))
        grads = {"weight": gemm(g2, ctx["x2"], trans_a=True)}
        if ctx["has_bias"]:
            grads["bias"] = bias_grad(g2, g2.shape[1], 1)
        return [gemm(g2, ctx["weight"]).reshape(ctx["x_shape"])], grads
