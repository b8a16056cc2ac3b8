"""Per-sample views: flatten and reshape."""
from __future__ import annotations

from . import NUMPY


class _View:
    """A reshape of each sample: the gradient takes the input's shape back."""

    def backward(ops, ctx, grad):
        return [grad.reshape(ctx["x_shape"])], {}


@NUMPY.layer("flatten")
class Flatten(_View):
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], -1)


@NUMPY.layer("reshape")
class Reshape(_View):
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], *attrs["shape"])
