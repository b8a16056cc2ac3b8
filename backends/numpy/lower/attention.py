"""Attention: batched matmul, and multi-head attention as nn.MultiheadAttention computes it (batch first).

multihead_attention on x [N, T, E] (and kv [N, S, E], else kv = x), H heads of D = E / H features:
q, k, v = x Wq^T + bq, kv Wk^T + bk, kv Wv^T + bv (the three row blocks of in_proj), split into heads
[N, H, T, D]; A = softmax(q k^T / sqrt(D), masked where j > i when causal), dropped out in training;
y = merge_heads(A v) Wo^T + bo. The backward retraces the chain by hand.
"""
from __future__ import annotations

import numpy as np

from . import NUMPY
from .merge import expand, unbroadcast


def _t(x):
    """The last two axes swapped."""
    return x.swapaxes(-1, -2)


@NUMPY.layer("matmul")
class Matmul:
    def forward(ops, ctx, inputs, params, attrs, train):
        rank = max(x.ndim for x in inputs)
        a, b = (expand(x, rank) for x in inputs)
        if train:
            ctx.update(a=a, b=b, shapes=[x.shape for x in inputs])
        return np.matmul(a, b)

    def backward(ops, ctx, grad):
        want_a, want_b = ctx["input_grads"]
        shape_a, shape_b = ctx["shapes"]
        return [unbroadcast(grad @ _t(ctx["b"]), shape_a) if want_a else None,
                unbroadcast(_t(ctx["a"]) @ grad, shape_b) if want_b else None], {}


def _split_heads(x, heads: int):
    """[N, T, E] -> [N, H, T, E / H]."""
    n, steps, embed = x.shape
    return x.reshape(n, steps, heads, embed // heads).transpose(0, 2, 1, 3)


def _merge_heads(x):
    """[N, H, T, D] -> [N, T, H * D]."""
    n, heads, steps, depth = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, steps, heads * depth)


def _project(x, weight, bias):
    y = x @ weight.T
    return y if bias is None else y + bias


def _weight_grads(grad, x, with_bias: bool):
    """(d weight, d bias or None) of y = x W^T + b, summed over every row of [..., features]."""
    g2 = grad.reshape(-1, grad.shape[-1])
    return g2.T @ x.reshape(-1, x.shape[-1]), (g2.sum(axis=0) if with_bias else None)


@NUMPY.layer("multihead_attention")
class MultiheadAttention:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        kv = inputs[1] if len(inputs) == 2 else x
        embed, heads = x.shape[2], attrs["heads"]
        weight, bias = params["in_proj_weight"], params.get("in_proj_bias")
        if len(inputs) == 1:
            q, k, v = np.split(_project(x, weight, bias), 3, axis=-1)
        else:
            q = _project(x, weight[:embed], None if bias is None else bias[:embed])
            k, v = np.split(_project(kv, weight[embed:], None if bias is None else bias[embed:]), 2, axis=-1)
        q, k, v = (_split_heads(t, heads) for t in (q, k, v))
        scale = 1.0 / np.sqrt(embed // heads)
        scores = (q @ _t(k)) * scale
        if attrs["causal"]:
            scores = np.where(np.triu(np.ones(scores.shape[-2:], dtype=bool), 1), -np.inf, scores)
        attn = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attn /= attn.sum(axis=-1, keepdims=True)
        mask = ops.dropout_mask(attn.shape, attrs["dropout"]) if train and attrs["dropout"] > 0 else None
        weights = attn if mask is None else attn * mask
        mixed = _merge_heads(weights @ v)
        if train:
            ctx.update(x=x, kv=kv, q=q, k=k, v=v, attn=attn, mask=mask, weights=weights, mixed=mixed,
                       scale=scale, in_weight=weight, out_weight=params["out_proj.weight"], bias=bias is not None)
        return _project(mixed, params["out_proj.weight"], params.get("out_proj.bias"))

    def backward(ops, ctx, grad):
        c = ctx
        embed = c["x"].shape[2]
        grads = {}
        grads["out_proj.weight"], out_bias = _weight_grads(grad, c["mixed"], c["bias"])
        d_mixed = _split_heads(grad @ c["out_weight"], c["q"].shape[1])
        d_weights = d_mixed @ _t(c["v"])
        dv = _t(c["weights"]) @ d_mixed
        d_attn = d_weights if c["mask"] is None else d_weights * c["mask"]
        attn = c["attn"]
        d_scores = attn * (d_attn - (d_attn * attn).sum(axis=-1, keepdims=True)) * c["scale"]
        dq, dk, dv = (_merge_heads(t) for t in (d_scores @ c["k"], _t(d_scores) @ c["q"], dv))
        weight = c["in_weight"]
        if len(c["input_grads"]) == 1:
            d_qkv = np.concatenate([dq, dk, dv], axis=-1)
            grads["in_proj_weight"], in_bias = _weight_grads(d_qkv, c["x"], c["bias"])
            input_grads = [d_qkv @ weight if c["input_grads"][0] else None]
        else:
            d_kv = np.concatenate([dk, dv], axis=-1)
            wq, bq = _weight_grads(dq, c["x"], c["bias"])
            wkv, bkv = _weight_grads(d_kv, c["kv"], c["bias"])
            grads["in_proj_weight"] = np.concatenate([wq, wkv])
            in_bias = np.concatenate([bq, bkv]) if c["bias"] else None
            input_grads = [dq @ weight[:embed] if c["input_grads"][0] else None,
                           d_kv @ weight[embed:] if c["input_grads"][1] else None]
        if c["bias"]:
            grads["in_proj_bias"], grads["out_proj.bias"] = in_bias, out_bias
        return input_grads, grads
