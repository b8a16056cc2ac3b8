"""Sequence layers: embedding, and rnn/lstm/gru through the shared stacking (backends/runtime/recurrent.py) over
NumpyOps' direction loops and array primitives (backends/numpy/recurrent.py)."""
from __future__ import annotations

import numpy as np

from ...runtime.recurrent import StackedRecurrent
from . import NUMPY


@NUMPY.layer("embedding")
class Embedding:
    def forward(ops, ctx, inputs, params, attrs, train):
        ids, weight = inputs[0], params["weight"]
        if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
            from netspec.errors import UserError
            raise UserError(f"token id {int(ids.max() if ids.max() >= weight.shape[0] else ids.min())} is outside "
                            f"the embedding's vocabulary of {weight.shape[0]}", "raise 'vocab' to the data's")
        if train:
            ctx.update(ids=ids, shape=weight.shape, padding_idx=attrs["padding_idx"])
        return weight[ids]

    def backward(ops, ctx, grad):
        ids, (vocab, dim) = ctx["ids"], ctx["shape"]
        dweight = np.zeros((vocab, dim), dtype=grad.dtype)
        np.add.at(dweight, ids.reshape(-1), grad.reshape(-1, dim))
        if ctx["padding_idx"] is not None:
            dweight[ctx["padding_idx"]] = 0
        return [None], {"weight": dweight}


@NUMPY.layer("rnn", "lstm", "gru")
class Recurrent(StackedRecurrent):
    """Stacked, bidirectional rnn/lstm/gru in PyTorch's layouts (the stacking is shared by every backend)."""


@NUMPY.layer("position_embedding")
class PositionEmbedding:
    """x + W[:T]: a learned vector per position, broadcast over the batch."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        steps = x.shape[1]
        if steps > weight.shape[0]:
            from netspec.errors import UserError
            raise UserError(f"a sequence of {steps} steps is longer than the position table ({weight.shape[0]})",
                            "raise the position_embedding's 'length'")
        if train:
            ctx.update(steps=steps, shape=weight.shape)
        return x + weight[:steps]

    def backward(ops, ctx, grad):
        dweight = np.zeros(ctx["shape"], dtype=grad.dtype)
        dweight[:ctx["steps"]] = grad.sum(axis=0)
        return [grad], {"weight": dweight}
