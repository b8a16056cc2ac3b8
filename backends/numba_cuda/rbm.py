"""CD-k training of one RBM on the device: Gibbs sampling with numba.cuda.random, fused momentum updates.

The rule is the energy engine's (backends/energy/rbm.py): the negative chain starts at the data,
reconstructions use visible means, dW = (h0 v0 - hk vk) / N, and each parameter moves by a
velocity v = momentum v + lr (grad - weight_decay W).
"""
from __future__ import annotations

from .device import to_device
from .kernels import elementwise as ew
from .kernels import random as rnd
from .kernels.matmul import gemm
from .kernels.optim import ascend
from .kernels.reduce import channel_sums, sum_squares


class DeviceRBM:
    """weight (hidden, visible), bias (hidden), visible_bias (visible) held on the device."""

    def __init__(self, params: dict, visible_units="bernoulli", hidden_units="bernoulli", seed: int = 0):
        self.params = {key: to_device(value) for key, value in params.items()}
        self.visible_units, self.hidden_units = visible_units, hidden_units
        self.velocity = {key: ew.zeros(value.shape) for key, value in self.params.items()}
        self.states = rnd.make_states(seed)

    def hidden(self, v, draw=True):
        return rnd.units(gemm(v, self.params["weight"], trans_b=True), self.params["bias"], self.hidden_units,
                         self.states, draw)

    def visible(self, h):
        return rnd.units(gemm(h, self.params["weight"]), self.params["visible_bias"], self.visible_units,
                         self.states, False)[0]

    def cd_step(self, v0, k: int = 1, lr: float = 0.05, momentum: float = 0.5, weight_decay: float = 2e-4,
                monitor: bool = False):
        """One CD-k update on the device batch v0 (N, visible); returns the reconstruction error when monitored."""
        n = v0.shape[0]
        ph0, h = self.hidden(v0)
        for step in range(k):
            v = self.visible(h)
            if step < k - 1:
                h = self.hidden(v)[1]
        phk = self.hidden(v, draw=False)[0]
        dw = gemm(ph0, v0, trans_a=True, alpha=1.0 / n)
        gemm(phk, v, c=dw, trans_a=True, alpha=-1.0 / n, beta=1.0)
        db = channel_sums(ew.axpby(ph0, phk, 1.0 / n, -1.0 / n), ph0.shape[1], 1)[0]
        dc = channel_sums(ew.axpby(v0, v, 1.0 / n, -1.0 / n), v0.shape[1], 1)[0]
        for key, grad, decay in (("weight", dw, weight_decay), ("bias", db, 0.0), ("visible_bias", dc, 0.0)):
            ascend(self.params[key], grad, self.velocity[key], lr, momentum, decay)
        if monitor:
            return sum_squares(ew.axpby(v0, v, 1.0, -1.0)) / n
        return None

    def reconstruction_error(self, v0) -> float:
        """Mean squared error of the mean-field reconstruction v0 -> h -> v per sample."""
        v = self.visible(self.hidden(v0, draw=False)[0])
        return sum_squares(ew.axpby(v0, v, 1.0, -1.0)) / v0.shape[0]

    def numpy_params(self) -> dict:
        return {key: value.copy_to_host() for key, value in self.params.items()}


__all__ = ["DeviceRBM"]
