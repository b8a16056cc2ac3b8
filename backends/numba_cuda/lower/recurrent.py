"""embedding, and rnn/lstm/gru: the shared stacking (backends/runtime/recurrent.py) over CudaOps' step loops."""
from __future__ import annotations

from ...runtime.recurrent import StackedRecurrent
from ..kernels import embedding as emb
from . import CUDA


@CUDA.layer("embedding")
class Embedding:
    """A row gather; an id outside the vocabulary sets a device flag that CudaOps checks with the loss."""

    def forward(ops, ctx, inputs, params, attrs, train):
        ids, weight = inputs[0], params["weight"]
        y = emb.gather(ids, weight, ops.id_flag(weight.shape[0]))
        if train:
            ctx.update(ids=ids, vocab=weight.shape[0], padding_idx=attrs["padding_idx"])
        return y

    def backward(ops, ctx, grad):
        return [None], {"weight": emb.scatter_add(ctx["ids"], grad, ctx["vocab"], ctx["padding_idx"])}


@CUDA.layer("rnn", "lstm", "gru")
class Recurrent(StackedRecurrent):
    """Stacked, bidirectional; one direction's steps are CudaOps.rnn_direction_forward/backward (recurrent.py)."""
