"""The linear layer: one BLAS product (split over batch rows in a batch-parallel graph), bias and a fused
relu in the same pass."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..packed import PackedRows, pack, threshold_pack, xnor_matmul, xnor_threshold_pack
from . import NUMPY


def _packed_forward(ops, ctx, x, packed, params):
    """Inference on bit-packed weights: x is +-1 floats or PackedRows. With ctx['fold'] (the (low, high) popcount
    ranges of a batchnorm and binarize folded in) the output is the next layer's PackedRows; else floats."""
    signs = x.signs if isinstance(x, PackedRows) else pack(x.reshape(-1, x.shape[-1]))[0]
    if "fold" in ctx:
        return xnor_threshold_pack(signs, packed, *ctx["fold"], ops.over_threads)
    weight = params["weight"]
    y = np.empty((len(signs), len(weight)), dtype=weight.dtype)
    xnor_matmul((signs, None), packed, weight.shape[1], y, ops.over_threads)
    if "bias" in params:
        y += params["bias"]
    if ctx.get("activation") == "relu":
        np.maximum(y, 0, out=y)
    return y if isinstance(x, PackedRows) else y.reshape(*x.shape[:-1], len(weight))


@NUMPY.layer("linear", fuses=("relu",))
class Linear:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        weight = params["weight"]
        packed = None if train else ctx.get("packed_weight")   # +-1 inputs and weights: XNOR and popcount
        if packed is not None:
            return _packed_forward(ops, ctx, x, packed, params)
        x2 = x.reshape(-1, x.shape[-1])
        y = np.empty((x2.shape[0], weight.shape[0]), dtype=x.dtype)
        has_bias, relu = "bias" in params, ctx.get("activation") == "relu"

        def forward_slice(lo, hi):
            part = y[lo:hi]
            np.matmul(x2[lo:hi], weight.T, out=part)
            if has_bias:
                part += params["bias"]
            if relu:                               # fused relu: in place, kept for the backward mask
                np.maximum(part, 0, out=part)

        ops.over_linear(forward_slice, len(y), y.size * x2.shape[1])
        if "fold" in ctx and not train:        # batchnorm and binarize folded in: the next layer's packed input
            return threshold_pack(y, *ctx["fold"])
        if train:
            ctx.update(x2=x2, x_shape=x.shape, weight=weight, has_bias=has_bias, relu_out=y if relu else None)
        return y.reshape(*x.shape[:-1], weight.shape[0])

    def backward(ops, ctx, grad):
        g2 = grad.reshape(-1, grad.shape[-1])
        if ctx.get("relu_out") is not None:        # fused relu: one Numba pass (np.where is ~30x slower here)
            g2 = np.ascontiguousarray(g2)
            masked = np.empty_like(g2)
            kernels.act_grad_bias(g2[:, None, :], ctx["relu_out"][:, None, :], True, False, masked[:, None, :],
                                  masked[:1, :1])
            g2 = masked
        x2, weight = ctx["x2"], ctx["weight"]
        rows, outputs = g2.shape
        want_dx = ctx["input_grads"][0]
        deferred = ctx.get("defer_weights", False)
        grads = {"weight": WeightFactors([(g2, x2)]) if deferred else np.empty(weight.shape, dtype=g2.dtype)}
        dx = np.empty(x2.shape, dtype=g2.dtype) if want_dx else None

        def backward_slice(lo, hi):
            if not deferred:
                f0, f1 = outputs * lo // rows, outputs * hi // rows
                np.matmul(g2[:, f0:f1].T, x2, out=grads["weight"][f0:f1])
            if want_dx:
                np.matmul(g2[lo:hi], weight, out=dx[lo:hi])

        ops.over_linear(backward_slice, rows, g2.size * x2.shape[1])
        if ctx["has_bias"]:
            grads["bias"] = WeightFactors([(g2, None)]) if deferred else g2.sum(axis=0)
        if not want_dx:
            return [None], grads
        return [dx.reshape(ctx["x_shape"])], grads


class WeightFactors:
    """A linear layer's weight gradient left as (output gradient, input) row blocks, sum of g^T x over them
    (a bias's: x None, sum of g's rows). A cell's steps add theirs up and `join()` forms one product over all
    steps, instead of a small product and an accumulation per step (backends/runtime/cell.py)."""

    def __init__(self, pairs: list):
        self.pairs = pairs

    def __add__(self, other: WeightFactors) -> WeightFactors:
        return WeightFactors(self.pairs + other.pairs)

    def join(self):
        g = np.concatenate([g for g, _ in self.pairs]) if len(self.pairs) > 1 else self.pairs[0][0]
        if self.pairs[0][1] is None:
            return g.sum(axis=0)
        x = np.concatenate([x for _, x in self.pairs]) if len(self.pairs) > 1 else self.pairs[0][1]
        return g.T @ x
