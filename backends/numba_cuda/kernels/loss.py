"""Losses, each fused with its gradient: softmax cross-entropy, mean squared error, binary cross-entropy.

The forward kernel writes per-row (or per-element) losses and the gradient of the mean loss in
one pass; only the scalar mean crosses to the host.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..device import F0, F1, F2, empty, grid1d, launch
from .elementwise import flat, sigmoid
from .reduce import channel_sums

TINY = np.float32(1e-12)
CLAMP = np.float32(1e-7)
MSE, BCE_LOGITS, BCE_PROBS = 0, 1, 2
IGNORE = -100               # PyTorch's ignore_index (netspec.losses.IGNORE)


@cuda.jit(cache=True)
def _softmax_xent(logits, labels, losses, grad, classes, inv_rows, bad, probabilities):
    """Cross-entropy of logits (or, when `probabilities`, of softmax outputs: nll(log(max(p, 1e-12)))); a row
    whose label is IGNORE (-100) adds nothing and gets no gradient."""
    r = cuda.grid(1)
    while r < losses.size:
        base = r * classes
        if labels[r] == IGNORE:
            losses[r] = F0
            for c in range(classes):
                grad[base + c] = F0
            r += cuda.gridsize(1)
            continue
        if probabilities:
            label = labels[r]
            if label < 0 or label >= classes:
                bad[0] = 1
                label = 0
            raw = logits[base + label]
            losses[r] = -math.log(max(raw, TINY))
            for c in range(classes):
                grad[base + c] = F0
            if raw > TINY:
                grad[base + label] = -inv_rows / raw
            r += cuda.gridsize(1)
            continue
        top = logits[base]
        for c in range(1, classes):
            top = max(top, logits[base + c])
        total = F0
        for c in range(classes):
            total += math.exp(logits[base + c] - top)
        label = labels[r]
        if label < 0 or label >= classes:
            bad[0] = 1
            label = 0
        losses[r] = math.log(total) + top - logits[base + label]
        for c in range(classes):
            p = math.exp(logits[base + c] - top) / total
            grad[base + c] = (p - (F1 if c == label else F0)) * inv_rows
        r += cuda.gridsize(1)


@cuda.jit(cache=True)
def _pointwise_loss(kind, out, target, losses, grad, inv_n):
    i = cuda.grid(1)
    while i < out.size:
        x = out[i]
        t = target[i]
        if kind == MSE:
            d = x - t
            losses[i] = d * d
            grad[i] = F2 * d * inv_n
        elif kind == BCE_LOGITS:
            losses[i] = max(x, F0) - x * t + math.log(F1 + math.exp(-abs(x)))
            grad[i] = (sigmoid(x) - t) * inv_n
        else:                       # BCELoss on probabilities clamped to [1e-7, 1 - 1e-7]
            p = min(max(x, CLAMP), F1 - CLAMP)
            losses[i] = -(t * math.log(p) + (F1 - t) * math.log(F1 - p))
            inside = x > CLAMP and x < F1 - CLAMP
            grad[i] = (p - t) / (p * (F1 - p)) * inv_n if inside else F0
        i += cuda.gridsize(1)


def _mean(values) -> float:
    total, _ = channel_sums(values, 1, 1)
    return float(total.copy_to_host()[0]) / values.size


def softmax_cross_entropy(logits, labels, probabilities: bool = False):
    """(mean loss, gradient, whether a label was out of range) for logits (rows, classes), int labels (rows,).

    With `probabilities` the rows are already softmax outputs (a spec ending in softmax)."""
    rows, classes = logits.shape
    scored = int((labels.copy_to_host() != IGNORE).sum()) if hasattr(labels, "copy_to_host") else \
        int((np.asarray(labels) != IGNORE).sum())
    losses, grad = empty((rows,)), empty(logits.shape)
    bad = cuda.to_device(np.zeros(1, np.int32))
    launch(_softmax_xent, grid1d(rows), flat(logits), flat(labels), losses, flat(grad), classes,
           np.float32(1.0 / max(scored, 1)), bad, bool(probabilities))
    return _mean(losses) * rows / max(scored, 1), grad, bool(bad.copy_to_host()[0])


def pointwise_loss(kind: str, out, target, from_probabilities: bool = False):
    """(mean loss, gradient) of mse or bce (on logits, or on probabilities when asked)."""
    code = MSE if kind == "mse" else (BCE_PROBS if from_probabilities else BCE_LOGITS)
    losses, grad = empty(out.shape), empty(out.shape)
    launch(_pointwise_loss, grid1d(out.size), code, flat(out), flat(target), flat(losses), flat(grad),
           np.float32(1.0 / out.size))
    return _mean(losses), grad


__all__ = ["pointwise_loss", "softmax_cross_entropy"]
