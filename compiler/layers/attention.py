"""Attention: batched matmul (to write attention from primitives) and multi-head attention with PyTorch's
nn.MultiheadAttention parameter layout (batch first)."""
import math

from netspec.errors import fmt_shape

from ..dims import numel
from ..registry import REQUIRED, ZEROS, Attr, LayerType, ShapeError, register, uniform
from .merge import broadcast_shape


def _matmul_infer(node, in_shapes):
    a, b = in_shapes
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"expects matrices per sample (rank 2 or more), found {fmt_shape(a)} and {fmt_shape(b)}",
                         "reshape vectors to [1, n] or [n, 1] first")
    if a[-1] != b[-2]:
        raise ShapeError(f"inner dims differ: '{node.inputs[0]}' is {fmt_shape(a)} and '{node.inputs[1]}' is "
                         f"{fmt_shape(b)} ({a[-1]} vs {b[-2]})", "transpose one input (e.g. keys: perm [1, 0])")
    lead = broadcast_shape(node, [a[:-2], b[:-2]]) if len(a) > 2 or len(b) > 2 else ()
    return (*lead, a[-2], b[-1])


register(LayerType("matmul", "attention", infer=_matmul_infer, min_inputs=2, max_inputs=2, aliases=("bmm",),
                   flops=lambda node, ins, out: numel(out) * ins[0][-1],
                   label=lambda node: "matmul",
                   examples=({"inputs": [[3, 4], [4, 2]]}, {"inputs": [[2, 3, 4], [1, 4, 5]]}),
                   doc="matrix product over the last two axes, batched (and broadcast) over the leading ones"))


def _mha_infer(node, in_shapes):
    query = in_shapes[0]
    if len(query) != 2:
        raise ShapeError(f"expects a sequence T x features, found {fmt_shape(query)}",
                         "add an 'embedding' or 'reshape' to [steps, features]")
    a = node.attrs
    embed = query[1]
    if not isinstance(embed, int):
        raise ShapeError(f"the feature dim must be fixed, found {embed}")
    if a["dim"] is not None and a["dim"] != embed:
        raise ShapeError(f"dim={a['dim']} but the input has {embed} features",
                         f"set dim: {embed}, or project the input with a linear layer of {a['dim']} units")
    if embed % a["heads"]:
        raise ShapeError(f"heads={a['heads']} must divide the {embed} features",
                         f"use heads from {[h for h in range(1, embed + 1) if embed % h == 0][:8]}")
    if len(in_shapes) == 2:
        kv = in_shapes[1]
        if len(kv) != 2 or kv[1] != embed:
            raise ShapeError(f"the kv input must be a sequence S x {embed}, found {fmt_shape(kv)}",
                             f"project it with a linear layer of {embed} units")
    return query


def _mha_params(node, in_shapes):
    embed = in_shapes[0][1]
    out = [("in_proj_weight", (3 * embed, embed), uniform(math.sqrt(6.0 / (4 * embed))))]   # xavier_uniform_
    if node.attrs["bias"]:
        out.append(("in_proj_bias", (3 * embed,), ZEROS))
    out.append(("out_proj.weight", (embed, embed), uniform(1.0 / math.sqrt(embed))))
    if node.attrs["bias"]:
        out.append(("out_proj.bias", (embed,), ZEROS))
    return out


def _mha_flops(node, in_shapes, out_shape):
    steps, embed = in_shapes[0]
    keys = in_shapes[-1][0]
    return numel((steps,)) * 2 * embed * embed + numel((keys,)) * 2 * embed * embed + 2 * numel((steps, keys)) * embed


register(LayerType(
    "multihead_attention", "attention", infer=_mha_infer, params=_mha_params, flops=_mha_flops,
    min_inputs=1, max_inputs=2, aliases=("mha", "attention", "multi_head_attention"),
    attrs=[Attr("heads", "int", REQUIRED, min=1, aliases=("num_heads",)),
           Attr("dim", "int", None, min=1, aliases=("embed_dim",), doc="the features (default: the input's)"),
           Attr("causal", "bool", False, doc="each step attends only to itself and earlier steps"),
           Attr("dropout", "prob", 0.0, doc="on the attention weights, in training"),
           Attr("bias", "bool", True)],
    label=lambda node: f"attention {node.attrs['heads']} heads" + (" causal" if node.attrs["causal"] else ""),
    examples=({"attrs": {"heads": 2}, "inputs": [[3, 4]]},
              {"attrs": {"heads": 1, "causal": True, "bias": False}, "inputs": [[4, 3]]},
              {"attrs": {"heads": 2}, "inputs": [[3, 4], [5, 4]]}),
    doc="multi-head attention of a T x E sequence over itself, or over a second 'kv' input (from: [query, kv]); "
        "nn.MultiheadAttention's parameters"))
