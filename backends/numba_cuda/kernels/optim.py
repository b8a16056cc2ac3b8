"""Optimizer updates, each one fused kernel per parameter, with PyTorch's exact rules.

Slots s1/s2 hold the state each rule needs: sgd (momentum_buffer), adagrad (sum), rmsprop
(square_avg, momentum_buffer), adam/adamw (exp_avg, exp_avg_sq).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..device import F0, F1, grid1d, launch
from .elementwise import flat

SGD, ADAGRAD, RMSPROP, ADAM, ADAMW = range(5)
KINDS = {"sgd": SGD, "adagrad": ADAGRAD, "rmsprop": RMSPROP, "adam": ADAM, "adamw": ADAMW}


@cuda.jit(cache=True)
def _update(kind, p, g, s1, s2, lr, momentum, wd, beta1, beta2, eps, alpha, nesterov, first, step_size, root_c2):
    i = cuda.grid(1)
    while i < p.size:
        w = p[i]
        grad = g[i]
        if kind != ADAMW:
            grad += wd * w
        if kind == SGD:
            if momentum != F0:
                buf = grad if first else momentum * s1[i] + grad
                s1[i] = buf
                grad = grad + momentum * buf if nesterov else buf
            w -= lr * grad
        elif kind == ADAGRAD:
            total = s1[i] + grad * grad
            s1[i] = total
            w -= lr * grad / (math.sqrt(total) + eps)
        elif kind == RMSPROP:
            sq = alpha * s1[i] + (F1 - alpha) * grad * grad
            s1[i] = sq
            avg = math.sqrt(sq) + eps
            if momentum != F0:
                buf = momentum * s2[i] + grad / avg
                s2[i] = buf
                w -= lr * buf
            else:
                w -= lr * grad / avg
        else:
            if kind == ADAMW:
                w *= F1 - lr * wd
            m = beta1 * s1[i] + (F1 - beta1) * grad
            v = beta2 * s2[i] + (F1 - beta2) * grad * grad
            s1[i] = m
            s2[i] = v
            w -= step_size * m / (math.sqrt(v) / root_c2 + eps)
        p[i] = w
        i += cuda.gridsize(1)


def slot_names(kind: str, momentum: float) -> tuple:
    """The state slots (PyTorch names) a rule keeps, in kernel order s1, s2."""
    if kind == "sgd":
        return ("momentum_buffer",) if momentum else ()
    if kind == "adagrad":
        return ("sum",)
    if kind == "rmsprop":
        return ("square_avg", "momentum_buffer") if momentum else ("square_avg",)
    return ("exp_avg", "exp_avg_sq")


def update(kind: str, param, grad, slots: list, hp: dict, step: int, first: bool) -> None:
    """One in-place update; `slots` are the device arrays named by slot_names (zeroed on first use)."""
    lr = float(hp["lr"])
    betas = tuple(hp.get("betas", (0.9, 0.999)))
    beta1, beta2 = betas[0], betas[1] if len(betas) > 1 else 0.999
    step_size, root_c2 = lr, 1.0
    if kind in ("adam", "adamw"):
        step_size = lr / (1 - beta1 ** step)
        root_c2 = math.sqrt(1 - beta2 ** step)
    s1 = flat(slots[0]) if slots else flat(param)
    s2 = flat(slots[1]) if len(slots) > 1 else s1
    f32 = np.float32
    launch(_update, grid1d(param.size), KINDS[kind], flat(param), flat(grad), s1, s2, f32(lr), f32(hp["momentum"]),
           f32(hp["weight_decay"]), f32(beta1), f32(beta2), f32(hp["eps"]), f32(hp["alpha"]), bool(hp["nesterov"]),
           bool(first), f32(step_size), f32(root_c2))


__all__ = ["KINDS", "slot_names", "update"]


@cuda.jit(cache=True)
def _ascend(p, g, velocity, lr, momentum, wd):
    """Momentum gradient ascent with weight decay (the RBM rule): v = m v + lr (g - wd p); p += v."""
    i = cuda.grid(1)
    while i < p.size:
        v = momentum * velocity[i] + lr * (g[i] - wd * p[i])
        velocity[i] = v
        p[i] += v
        i += cuda.gridsize(1)


def ascend(param, grad, velocity, lr: float, momentum: float, weight_decay: float = 0.0) -> None:
    launch(_ascend, grid1d(param.size), flat(param), flat(grad), flat(velocity), np.float32(lr),
           np.float32(momentum), np.float32(weight_decay))
