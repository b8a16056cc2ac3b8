"""matmul and multi-head attention from the batched gemm, with head moves, a causal mask and softmax kernels.

multihead_attention keeps heads as gemm batches: q, k, v are [N * H, T, D]; the scores [N * H, T, S] are one
batched gemm, the softmax one kernel, the weighted sum another gemm (see the NumPy lowering for the maths).
"""
from __future__ import annotations

import math

from ..device import empty
from ..kernels import attention as heads_k
from ..kernels import broadcast as bc
from ..kernels import elementwise as ew
from ..kernels import random as rnd
from ..kernels.matmul import gemm
from . import CUDA
from .common import bias_grad
from .dense import rows


@CUDA.layer("matmul")
class Matmul:
    """Inputs repeated along broadcast leading axes, then one gemm batched over every leading axis."""

    def forward(ops, ctx, inputs, params, attrs, train):
        a, b = inputs
        shape_a, shape_b = tuple(a.shape), tuple(b.shape)        # plain tuples (the simulator's index no -2)
        lead = bc.broadcast_shapes(shape_a[:-2], shape_b[:-2])
        batch = math.prod(lead)
        a3 = bc.broadcast_to(a, (*lead, *shape_a[-2:])).reshape(batch, *shape_a[-2:])
        b3 = bc.broadcast_to(b, (*lead, *shape_b[-2:])).reshape(batch, *shape_b[-2:])
        if train:
            ctx.update(a3=a3, b3=b3, shapes=(shape_a, shape_b), lead=lead)
        return gemm(a3, b3).reshape(*lead, shape_a[-2], shape_b[-1])

    def backward(ops, ctx, grad):
        want_a, want_b = ctx["input_grads"]
        shape_a, shape_b = ctx["shapes"]
        lead = ctx["lead"]
        g3 = grad.reshape(ctx["a3"].shape[0], shape_a[-2], shape_b[-1])
        return [bc.reduce_to(gemm(g3, ctx["b3"], trans_b=True).reshape(*lead, *shape_a[-2:]), shape_a)
                if want_a else None,
                bc.reduce_to(gemm(ctx["a3"], g3, trans_a=True).reshape(*lead, *shape_b[-2:]), shape_b)
                if want_b else None], {}


def _project(x2, weight, bias):
    """x2 W^T + b for rows x2."""
    y = gemm(x2, weight, trans_b=True)
    if bias is not None:
        ew.bias_activation(y, bias, 1)
    return y


def _part(array, lo, hi):
    return None if array is None else array[lo:hi]


@CUDA.layer("multihead_attention")
class MultiheadAttention:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        kv = inputs[1] if len(inputs) == 2 else x
        n, steps, embed = x.shape
        heads = attrs["heads"]
        weight, bias = params["in_proj_weight"], params.get("in_proj_bias")
        x2, kv2 = rows(x), rows(kv)
        if len(inputs) == 1:
            qkv = _project(x2, weight, bias).reshape(n, steps, 3 * embed)
            q, k, v = (heads_k.split_heads(qkv, heads, i * embed, embed) for i in range(3))
        else:
            q = heads_k.split_heads(_project(x2, weight[:embed], _part(bias, 0, embed)).reshape(n, steps, embed),
                                    heads, 0, embed)
            kvp = _project(kv2, weight[embed:], _part(bias, embed, 3 * embed)).reshape(n, kv.shape[1], 2 * embed)
            k, v = (heads_k.split_heads(kvp, heads, i * embed, embed) for i in range(2))
        scale = 1.0 / math.sqrt(embed // heads)
        scores = gemm(q, k, trans_b=True, alpha=scale)
        if attrs["causal"]:
            heads_k.causal_mask(scores)
        attn = ew.softmax(scores, 2)
        weights, mask = attn, None
        if train and attrs["dropout"] > 0:
            weights, mask = rnd.dropout(attn, attrs["dropout"], ops.states())
        mixed = heads_k.merge_heads(gemm(weights, v), heads)
        out_weight = params["out_proj.weight"]
        if train:
            ctx.update(x2=x2, kv2=kv2, shapes=(x.shape, kv.shape), q=q, k=k, v=v, attn=attn, mask=mask,
                       weights=weights, mixed2=rows(mixed), scale=scale, heads=heads, in_weight=weight,
                       out_weight=out_weight, bias=bias is not None)
        return _project(rows(mixed), out_weight, params.get("out_proj.bias")).reshape(n, steps, embed)

    def backward(ops, ctx, grad):
        c = ctx
        (n, steps, embed), kv_shape = c["shapes"]
        heads = c["heads"]
        g2 = rows(grad)
        grads = {"out_proj.weight": gemm(g2, c["mixed2"], trans_a=True)}
        if c["bias"]:
            grads["out_proj.bias"] = bias_grad(g2, embed, 1)
        d_mixed = heads_k.split_heads(gemm(g2, c["out_weight"]).reshape(n, steps, embed), heads, 0, embed)
        d_weights = gemm(d_mixed, c["v"], trans_b=True)
        dv = gemm(c["weights"], d_mixed, trans_a=True)
        d_attn = d_weights if c["mask"] is None else ew.mul(d_weights, c["mask"], out=d_weights)
        d_scores = ew.softmax_backward(c["attn"], d_attn, 2)
        dq = gemm(d_scores, c["k"], alpha=c["scale"])
        dk = gemm(d_scores, c["q"], trans_a=True, alpha=c["scale"])
        weight, wanted = c["in_weight"], c["input_grads"]
        if len(wanted) == 1:
            d_qkv = empty((n, steps, 3 * embed))
            for i, part in enumerate((dq, dk, dv)):
                heads_k.merge_heads(part, heads, d_qkv, i * embed)
            d2 = rows(d_qkv)
            grads["in_proj_weight"] = gemm(d2, c["x2"], trans_a=True)
            if c["bias"]:
                grads["in_proj_bias"] = bias_grad(d2, 3 * embed, 1)
            return [gemm(d2, weight).reshape(n, steps, embed) if wanted[0] else None], grads
        dq2 = rows(heads_k.merge_heads(dq, heads))
        d_kv = empty((n, kv_shape[1], 2 * embed))
        for i, part in enumerate((dk, dv)):
            heads_k.merge_heads(part, heads, d_kv, i * embed)
        dkv2 = rows(d_kv)
        grads["in_proj_weight"] = ew.concat([gemm(dq2, c["x2"], trans_a=True), gemm(dkv2, c["kv2"], trans_a=True)],
                                            (3 * embed, embed), 0)
        if c["bias"]:
            grads["in_proj_bias"] = ew.concat([bias_grad(dq2, embed, 1), bias_grad(dkv2, 2 * embed, 1)],
                                              (3 * embed,), 0)
        return [gemm(dq2, weight[:embed]).reshape(n, steps, embed) if wanted[0] else None,
                gemm(dkv2, weight[embed:]).reshape(kv_shape) if wanted[1] else None], grads
