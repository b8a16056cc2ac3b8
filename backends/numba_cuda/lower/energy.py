"""rbm (unrolled: the hidden units' mean given the visible ones) and tied (a decoder borrowing an rbm's weight)."""
from __future__ import annotations

from ..kernels import elementwise as ew
from ..kernels import random as rnd
from ..kernels.matmul import gemm
from . import CUDA
from .common import bias_grad
from .dense import Linear


@CUDA.layer("rbm")
class Rbm:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        units = attrs["hidden_units"]
        out, _ = rnd.units(gemm(x, weight, trans_b=True), params["bias"], units, ops.states(), draw=False)
        if train:
            ctx.update(x2=x, x_shape=x.shape, weight=weight, has_bias=True, units=units, out=out,
                       visible_bias=params["visible_bias"])
        return out

    def backward(ops, ctx, grad):
        units, out = ctx["units"], ctx["out"]
        if units != "gaussian":      # bernoulli units are a sigmoid, relu units a relu, of the pre-activation
            grad = ew.activation_backward(out, out, grad, "sigmoid" if units == "bernoulli" else "relu")
        grad_inputs, grads = Linear.backward(ops, ctx, grad)
        grads["visible_bias"] = ew.zeros(ctx["visible_bias"].shape)
        return grad_inputs, grads


@CUDA.layer("tied")
class Tied:
    """x W + bias with W (hidden, visible) the rbm attrs['of']'s (the executor passes it as params['weight'])."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        y = ew.bias_activation(gemm(x, weight), params["bias"], 1)
        if train:
            ctx.update(x=x, weight=weight)
        return y

    def backward(ops, ctx, grad):
        x, weight = ctx["x"], ctx["weight"]
        return [gemm(grad, weight, trans_b=True)], {"weight": gemm(x, grad, trans_a=True),
                                                    "bias": bias_grad(grad, grad.shape[1], 1)}
