"""Attention: batched matmul, and multi-head attention as PyTorch's own nn.MultiheadAttention."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import call, number, simple
from .merge import aligned


@TORCH.layer("matmul")
def matmul(node):
    return Lowering(simple(lambda ref, args: "torch.matmul({}, {})".format(*aligned(node, args))))


@TORCH.layer("multihead_attention")
def multihead_attention(node):
    """`self.attn(q, kv, kv, need_weights=False)[0]`; a causal mask (True where key j > query i) is built from
    the runtime lengths, so a symbolic T stays symbolic."""
    a = node.attrs
    module = call("nn.MultiheadAttention", node.in_shapes[0][1], a["heads"],
                  dropout=number(a["dropout"]) if a["dropout"] else None, bias=None if a["bias"] else False,
                  batch_first=True)

    def forward(target, ref, args):
        query = args[0]
        kv = args[1] if len(args) == 2 else query
        if not a["causal"]:
            return [f"{target} = {ref}({query}, {kv}, {kv}, need_weights=False)[0]"]
        mask = f"{target}_mask"
        steps = f"{query}.shape[1], {kv}.shape[1]"
        return [f"{mask} = torch.triu(torch.ones({steps}, dtype=torch.bool, device={query}.device), diagonal=1)",
                f"{target} = {ref}({query}, {kv}, {kv}, need_weights=False, attn_mask={mask})[0]"]
    return Lowering(forward, module)
