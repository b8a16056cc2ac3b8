"""CD-k / PCD training of one RBM on the device: Gibbs sampling with numba.cuda.random, fused momentum updates.

The rule is the energy engine's (backends/energy): the positive phase samples hidden units, CD's
negative chain starts at the data and uses visible means, PCD keeps sampled fantasy particles,
dW = (h0 v0 - hk vk) / N, and each parameter moves by v = momentum v + lr (grad - weight_decay W).

`DeviceEngine` plugs this into backends.energy's RBMTrainer, which keeps the schedule, shuffling and
monitors: `netspec train --backend numba-cuda` pretrains its RBM stack here (see backends/energy/hook.py).
"""
from __future__ import annotations

import numpy as np

from .device import to_device
from .kernels import elementwise as ew
from .kernels import random as rnd
from .kernels.embedding import gather
from .kernels.matmul import gemm
from .kernels.optim import ascend
from .kernels.reduce import channel_sums, sum_squares


class DeviceRBM:
    """weight (hidden, visible), bias (hidden), visible_bias (visible) held on the device."""

    def __init__(self, params: dict, visible_units="bernoulli", hidden_units="bernoulli", seed: int = 0,
                 up: float = 1.0, down: float = 1.0):
        self.params = {key: to_device(value) for key, value in params.items()}
        self.visible_units, self.hidden_units = visible_units, hidden_units
        self.velocity = {key: ew.zeros(value.shape) for key, value in self.params.items()}
        self.states = rnd.make_states(seed)
        self.up, self.down = up, down      # input multipliers (DBM pretraining doubles some)

    def hidden(self, v, draw=True):
        return rnd.units(gemm(v, self.params["weight"], trans_b=True, alpha=self.up), self.params["bias"],
                         self.hidden_units, self.states, draw)

    def visible(self, h, draw=False):
        mean, sample = rnd.units(gemm(h, self.params["weight"], alpha=self.down), self.params["visible_bias"],
                                 self.visible_units, self.states, draw)
        return sample if draw else mean

    def cd_step(self, v0, k: int = 1, lr: float = 0.05, momentum: float = 0.5, weight_decay: float = 2e-4,
                monitor: bool = False, chain=None):
        """One CD-k update on the device batch v0 (N, visible), or PCD when `chain` holds fantasy particles.

        Returns the new chain for PCD, else the reconstruction error when `monitor`, else None.
        """
        n = v0.shape[0]
        ph0, h = self.hidden(v0)
        if chain is not None:
            h = self.hidden(chain)[1]
        for step in range(k):
            v = self.visible(h, draw=chain is not None)
            if step < k - 1:
                h = self.hidden(v)[1]
        m = v.shape[0]
        phk = self.hidden(v, draw=False)[0]
        dw = gemm(ph0, v0, trans_a=True, alpha=1.0 / n)
        gemm(phk, v, c=dw, trans_a=True, alpha=-1.0 / m, beta=1.0)
        db = channel_sums(ph0, ph0.shape[1], 1)[0]
        db = ew.axpby(db, channel_sums(phk, phk.shape[1], 1)[0], 1.0 / n, -1.0 / m)
        dc = ew.axpby(channel_sums(v0, v0.shape[1], 1)[0], channel_sums(v, v.shape[1], 1)[0], 1.0 / n, -1.0 / m)
        for key, grad, decay in (("weight", dw, weight_decay), ("bias", db, 0.0), ("visible_bias", dc, 0.0)):
            ascend(self.params[key], grad, self.velocity[key], lr, momentum, decay)
        if chain is not None:
            return v
        if monitor:
            return sum_squares(ew.axpby(v0, v, 1.0, -1.0)) / n
        return None

    def reconstruction_error(self, v0) -> float:
        """Mean squared error of the mean-field reconstruction v0 -> h -> v per sample."""
        v = self.visible(self.hidden(v0, draw=False)[0])
        return sum_squares(ew.axpby(v0, v, 1.0, -1.0)) / v0.shape[0]

    def numpy_params(self) -> dict:
        return {key: value.copy_to_host() for key, value in self.params.items()}


class DeviceEngine:
    """The update engine of backends.energy.RBMTrainer on the device (same interface as its HostEngine).

    The training data is copied to the device once per layer; each step sends only the batch's row ids.
    Parameters, velocities, persistent chains and generator states stay on the device; sync() copies
    the parameters back for the trainer's monitors and checkpoints.
    """

    def __init__(self, rbm, config, rng: np.random.Generator):
        self.rbm, self.config, self.rng = rbm, config, rng
        seed = int(rng.integers(0, 2 ** 31))
        self.device = DeviceRBM(rbm.params(), rbm.visible_units, rbm.hidden_units, seed, rbm.up, rbm.down)
        self.chain = None
        self._bad = None

    @staticmethod
    def factory(rbm, config, rng, noise):
        """A device engine, or the host engine for what the device path lacks (a sparsity target)."""
        if config.sparsity is not None and config.sparsity_cost:
            from backends.energy.engine import HostEngine
            return HostEngine(rbm, config, rng, noise)
        return DeviceEngine(rbm, config, rng)

    def bind(self, data: np.ndarray) -> None:
        from numba import cuda
        if getattr(self, "_host_data", None) is not data:
            self._host_data, self.data = data, to_device(data)
            self._bad = cuda.to_device(np.zeros(1, np.int32))

    def _rows(self, rows: np.ndarray):
        from numba import cuda
        return gather(cuda.to_device(np.ascontiguousarray(rows, dtype=np.int64)), self.data, self._bad)

    def step(self, rows: np.ndarray, momentum: float) -> None:
        cfg = self.config
        v0 = self._rows(rows)
        if cfg.is_persistent and self.chain is None:
            self.chain = self._rows(rows[self.rng.integers(0, len(rows), cfg.chains or len(rows))])
        out = self.device.cd_step(v0, cfg.k, cfg.lr, momentum, cfg.weight_decay,
                                  chain=self.chain if cfg.is_persistent else None)
        if cfg.is_persistent:
            self.chain = out

    def sync(self) -> None:
        self.rbm.load(self.device.numpy_params())

    def state(self) -> dict:
        out = {f"velocity.{key}": value.copy_to_host() for key, value in self.device.velocity.items()}
        if self.chain is not None:
            out["chain"] = self.chain.copy_to_host()
        out["device_rng"] = self.device.states.copy_to_host().view(np.uint64)
        return out

    def load_state(self, arrays: dict) -> None:
        from numba import cuda
        device = self.device
        device.params = {key: to_device(value) for key, value in self.rbm.params().items()}
        device.velocity = {key: to_device(arrays[f"velocity.{key}"]) for key in device.params}
        self.chain = to_device(arrays["chain"]) if "chain" in arrays else None
        if "device_rng" in arrays:
            device.states = cuda.to_device(np.ascontiguousarray(arrays["device_rng"]).view(device.states.dtype))


__all__ = ["DeviceEngine", "DeviceRBM"]
