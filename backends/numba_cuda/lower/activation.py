"""Activations: the pointwise ones (one kernel, the type's code), identity, softmax, log-softmax and PReLU."""
from __future__ import annotations

from ..kernels import activation as act
from ..kernels import elementwise as ew
from . import CUDA


def array_axis(axis: int, rank: int) -> int:
    """A per-sample axis as a non-negative axis of the batch array of `rank` dims."""
    return axis + 1 if axis >= 0 else rank + axis


@CUDA.layer(*(name for name in act.CODES if name != "identity"))
class Pointwise:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        y = act.activation(x, ctx["op"], attrs)
        if train:
            ctx.update(x=x, y=y, attrs=attrs)
        return y

    def backward(ops, ctx, grad):
        return [act.activation_backward(ctx["x"], ctx["y"], grad, ctx["op"], ctx["attrs"])], {}


@CUDA.layer("identity")
class Identity:
    def forward(ops, ctx, inputs, params, attrs, train):
        return inputs[0]

    def backward(ops, ctx, grad):
        return [grad], {}


@CUDA.layer("softmax")
class Softmax:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        axis = array_axis(attrs["axis"], len(x.shape))
        y = ew.softmax(x, axis)
        if train:
            ctx.update(y=y, axis=axis)
        return y

    def backward(ops, ctx, grad):
        return [ew.softmax_backward(ctx["y"], grad, ctx["axis"])], {}


@CUDA.layer("log_softmax")
class LogSoftmax:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        axis = array_axis(attrs["axis"], len(x.shape))
        y = act.log_softmax(x, axis)
        if train:
            ctx.update(y=y, axis=axis)
        return y

    def backward(ops, ctx, grad):
        return [act.log_softmax_backward(ctx["y"], grad, ctx["axis"])], {}


@CUDA.layer("prelu")
class Prelu:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        if train:
            ctx.update(x=x, weight=weight)
        return act.prelu(x, weight)

    def backward(ops, ctx, grad):
        dx, dweight = act.prelu_backward(ctx["x"], ctx["weight"], grad)
        return [dx], {"weight": dweight}
