"""flatten and reshape: views of each sample (no copy)."""
from __future__ import annotations

import numpy as np

from . import CUDA


@CUDA.layer("flatten", "reshape")
class View:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        batch, per_sample = x.shape[0], x.size // x.shape[0]
        ctx["x_shape"] = x.shape
        if ctx["op"] == "flatten":
            return x.reshape(batch, per_sample)
        shape = list(attrs["shape"])
        if -1 in shape:
            shape[shape.index(-1)] = per_sample // int(np.prod([d for d in shape if d != -1]))
        return x.reshape(batch, *shape)

    def backward(ops, ctx, grad):
        return [grad.reshape(*ctx["x_shape"])], {}
