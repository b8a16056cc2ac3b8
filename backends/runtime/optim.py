"""Optimizer orchestration and gradient clipping (backend-neutral; schedules are backends/loop.py)."""
from __future__ import annotations

import math

import numpy as np

DEFAULT_EPS = {"sgd": 0.0, "adagrad": 1e-10, "rmsprop": 1e-8, "adam": 1e-8, "adamw": 1e-8}
OPT_PREFIX = "__opt__/"


class Optimizer:
    """Keeps per-parameter state and the step count; the array work is `ops.optimizer_update`."""

    def __init__(self, ops, cfg, trainable_keys, clips: dict | None = None):
        self.ops, self.kind = ops, cfg.type
        eps = cfg.eps if cfg.eps is not None else DEFAULT_EPS[cfg.type]
        self.base_lr = float(cfg.lr)
        self.hp = {"lr": self.base_lr, "momentum": cfg.momentum, "nesterov": cfg.nesterov,
                   "weight_decay": cfg.weight_decay, "betas": tuple(cfg.betas), "eps": eps, "alpha": cfg.alpha}
        self.keys = list(trainable_keys)
        self.state: dict = {key: {} for key in self.keys}
        self.steps = 0
        self.clips = clips or {}      # key -> (low, high): clamped after each update (binary latent weights)

    def set_lr(self, lr: float) -> None:
        self.hp["lr"] = lr

    def step(self, params: dict, grads: dict) -> None:
        self.steps += 1
        for key in self.keys:
            grad = grads.get(key)
            if grad is not None:
                self.ops.optimizer_update(self.kind, params[key], grad, self.state[key], self.hp, self.steps)
                if key in self.clips:
                    self.ops.clamp_(params[key], *self.clips[key])

    def state_arrays(self) -> dict:
        """Optimizer state as NumPy arrays for a checkpoint: '__opt__/<key>/<name>'."""
        out = {f"{OPT_PREFIX}steps": np.asarray(self.steps, dtype=np.int64)}
        for key, slots in self.state.items():
            for name, value in slots.items():
                out[f"{OPT_PREFIX}{key}/{name}"] = self.ops.to_numpy(value)
        return out

    def load_state_arrays(self, arrays: dict) -> None:
        self.steps = int(arrays.get(f"{OPT_PREFIX}steps", 0))
        for full, value in arrays.items():
            if not full.startswith(OPT_PREFIX) or full == f"{OPT_PREFIX}steps":
                continue
            key, name = full[len(OPT_PREFIX):].rsplit("/", 1)
            if key in self.state:
                self.state[key][name] = self.ops.from_numpy(value)


def clip_grad_norm(ops, grads: dict, max_norm: float) -> float:
    """Scale every gradient so that their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_)."""
    total = math.sqrt(sum(ops.sum_squares(g) for g in grads.values()))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            ops.scale_(g, coef)
    return total
