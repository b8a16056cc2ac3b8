"""embedding, and rnn/lstm/gru: the shared stacking (backends/runtime/recurrent.py) over CudaOps' step loops."""
from __future__ import annotations

from ...runtime.recurrent import StackedRecurrent
from ..device import empty
from ..kernels import elementwise as ew
from ..kernels import embedding as emb
from ..kernels.reduce import channel_sums
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


@CUDA.layer("position_embedding")
class PositionEmbedding:
    """x + W[:T]: the table's first T rows added to every sample, as a bias over the flattened T x features."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        steps, features = x.shape[1], x.shape[2]
        if steps > weight.shape[0]:
            from netspec.errors import UserError
            raise UserError(f"a sequence of {steps} steps is longer than the position table ({weight.shape[0]})",
                            "raise the position_embedding's 'length'")
        if train:
            ctx.update(steps=steps, shape=weight.shape)
        table = ew.flat(weight)[: steps * features]
        return ew.bias_activation(x, table, 1, out=empty(x.shape))

    def backward(ops, ctx, grad):
        rows = ctx["steps"] * ctx["shape"][1]
        dweight = ew.zeros(ctx["shape"])
        ew.copy(channel_sums(grad, rows, 1)[0], out=ew.flat(dweight)[:rows])
        return [grad], {"weight": dweight}
