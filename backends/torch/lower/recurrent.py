"""Sequences: embedding and the stacked recurrent layers rnn, lstm, gru (batch-first, as the IR)."""
from __future__ import annotations

from . import HELPERS, TORCH, Lowering
from .common import call, module_call, number, param, simple


@TORCH.layer("embedding")
def embedding(node):
    a = node.attrs
    return Lowering(simple(module_call), call("nn.Embedding", a["vocab"], a["dim"], padding_idx=a["padding_idx"]))


@TORCH.layer("rnn", "lstm", "gru")
def recurrent(node):
    a = node.attrs
    kind = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}[node.op]
    module = call(kind, node.in_shapes[0][1], a["hidden"], num_layers=a["layers"] if a["layers"] > 1 else None,
                  nonlinearity='"relu"' if node.op == "rnn" and a["nonlinearity"] == "relu" else None,
                  bias=None if a["bias"] else False, batch_first=True,
                  dropout=number(a["dropout"]) if a["dropout"] else None,
                  bidirectional=True if a["bidirectional"] else None)
    hidden = a["hidden"]

    def forward(target, ref, args):
        if a["return_sequences"]:
            return [f"{target}, _ = {ref}({args[0]})"]
        steps = f"{target}_steps"
        if not a["bidirectional"]:
            return [f"{steps}, _ = {ref}({args[0]})", f"{target} = {steps}[:, -1]  # the last step's output"]
        return [f"{steps}, _ = {ref}({args[0]})",
                "# forward direction's last step, backward direction's first step (each saw the whole sequence)",
                f"{target} = torch.cat([{steps}[:, -1, :{hidden}], {steps}[:, 0, {hidden}:]], dim=-1)"]
    return Lowering(forward, module)


HELPERS["PositionEmbedding"] = '''
class PositionEmbedding(nn.Module):
    """Adds a learned vector per position to a (batch, T, features) sequence: x + weight[:T]."""

    def __init__(self, length: int, features: int, init_std: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(length, features) * init_std)

    def forward(self, x):
        return x + self.weight[: x.shape[1]]
'''


@TORCH.layer("position_embedding")
def position_embedding(node):
    weight = param(node, "weight")
    module = call("PositionEmbedding", *weight.shape, init_std=number(weight.init.scale))
    return Lowering(simple(module_call), module, helpers=("PositionEmbedding",))
