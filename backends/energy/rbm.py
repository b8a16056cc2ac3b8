"""A restricted Boltzmann machine in NumPy: Gibbs sampling, CD-k / PCD gradients, training, monitors.

Parameters use the PyTorch layout of the `rbm` layer: weight (hidden, visible), bias (hidden),
visible_bias (visible), so they go straight into a netspec checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import units
from .units import Noise


@dataclass
class RBMConfig:
    """How one RBM is trained (the `pretrain:` section, overridden per layer)."""

    method: str = "cd"              # cd | pcd
    k: int = 1                      # Gibbs steps per update
    persistent: bool = False        # PCD: keep fantasy chains between updates
    chains: int | None = None       # persistent chains (default: batch size)
    lr: float = 0.05
    momentum: tuple = (0.5, 0.9)    # start, final
    momentum_switch: int = 5        # epoch at which momentum switches to its final value
    weight_decay: float = 2e-4
    sparsity: float | None = None   # target mean activation of hidden units
    sparsity_cost: float = 0.0
    init_scale: float = 0.01        # std of the initial weights
    epochs: int = 10
    batch_size: int = 64
    propagate: str = "mean"         # mean | sample: what the next layer of a stack trains on
    seed: int = 0

    @property
    def is_persistent(self) -> bool:
        return self.persistent or self.method == "pcd"

    def momentum_at(self, epoch: int) -> float:
        values = tuple(self.momentum) if np.ndim(self.momentum) else (float(self.momentum),)
        return float(values[0] if epoch < self.momentum_switch or len(values) == 1 else values[-1])

    def updated(self, **changes) -> RBMConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class RBM:
    """An RBM with bernoulli|gaussian visible and bernoulli|gaussian|relu hidden units."""

    def __init__(self, visible: int, hidden: int, visible_units: str = "bernoulli", hidden_units: str = "bernoulli",
                 dtype=np.float32, init_scale: float = 0.01, rng: np.random.Generator | None = None):
        rng = rng or np.random.default_rng(0)
        self.visible_units, self.hidden_units = visible_units, hidden_units
        self.dtype = np.dtype(dtype)
        self.weight = (rng.standard_normal((hidden, visible)) * init_scale).astype(self.dtype)
        self.bias = np.zeros(hidden, self.dtype)
        self.visible_bias = np.zeros(visible, self.dtype)
        self.up = 1.0       # 2.0 doubles the bottom-up input (DBM pretraining of the first layer)
        self.down = 1.0     # 2.0 doubles the top-down input (DBM pretraining of the top layer)

    # -- parameters ---------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.weight.shape

    def params(self) -> dict:
        return {"weight": self.weight, "bias": self.bias, "visible_bias": self.visible_bias}

    def load(self, params: dict) -> RBM:
        for key in ("weight", "bias", "visible_bias"):
            value = np.asarray(params[key], dtype=self.dtype)
            if value.shape != getattr(self, key).shape:
                raise ValueError(f"{key}: shape {value.shape}, the RBM needs {getattr(self, key).shape}")
            setattr(self, key, value.copy())
        return self

    def init_visible_bias(self, data: np.ndarray) -> None:
        """Visible biases from the data: log(p / (1 - p)) for bernoulli units, the mean for gaussian ones."""
        p = data.mean(axis=0)
        if self.visible_units == "bernoulli":
            p = np.clip(p, 1e-3, 1 - 1e-3)
            self.visible_bias = np.log(p / (1 - p)).astype(self.dtype)
        else:
            self.visible_bias = p.astype(self.dtype)

    # -- conditionals -------------------------------------------------------------------------------
    def hidden_input(self, v: np.ndarray, up: float | None = None) -> np.ndarray:
        up = self.up if up is None else up
        x = v @ self.weight.T
        if up != 1.0:
            x *= up
        x += self.bias
        return x

    def visible_input(self, h: np.ndarray, down: float | None = None) -> np.ndarray:
        down = self.down if down is None else down
        x = h @ self.weight
        if down != 1.0:
            x *= down
        x += self.visible_bias
        return x

    def hidden_mean(self, v: np.ndarray, up: float | None = None) -> np.ndarray:
        return units.mean(self.hidden_units, self.hidden_input(v, up))

    def visible_mean(self, h: np.ndarray, down: float | None = None) -> np.ndarray:
        return units.mean(self.visible_units, self.visible_input(h, down))

    def sample_hidden(self, v: np.ndarray, noise: Noise, up: float | None = None) -> tuple:
        """(mean, sample) of the hidden units given v."""
        x = self.hidden_input(v, up)
        pre = x.copy() if self.hidden_units == "relu" else None
        mu = units.mean(self.hidden_units, x)
        return mu, units.sample(self.hidden_units, pre if pre is not None else mu, mu, noise)

    def sample_visible(self, h: np.ndarray, noise: Noise, down: float | None = None) -> tuple:
        mu = self.visible_mean(h, down)
        return mu, units.sample(self.visible_units, mu, mu, noise)

    # -- energies and monitors ------------------------------------------------------------------------
    def free_energy(self, v: np.ndarray) -> np.ndarray:
        """F(v) = -log sum_h exp(-E(v, h)) per sample (unit-variance gaussians, constants dropped)."""
        v = np.asarray(v, dtype=self.dtype)
        return (units.visible_energy(self.visible_units, v, self.visible_bias)
                + units.hidden_free_energy(self.hidden_units, self.hidden_input(v)))

    def energy(self, v: np.ndarray, h: np.ndarray) -> np.ndarray:
        """E(v, h) per sample (bernoulli/gaussian hidden terms)."""
        e = units.visible_energy(self.visible_units, v, self.visible_bias) - h @ self.bias
        e -= np.einsum("nh,hv,nv->n", h, self.weight, v)
        if self.hidden_units != "bernoulli":
            e += 0.5 * (h * h).sum(axis=1)
        return e

    def reconstruction_error(self, v: np.ndarray, noise: Noise | None = None) -> float:
        """Mean squared error per unit of v against its one-step reconstruction."""
        if noise is None:
            recon = self.visible_mean(self.hidden_mean(v))
        else:
            recon = self.visible_mean(self.sample_hidden(v, noise)[1])
        return float(np.mean((v - recon) ** 2))

    def pseudo_likelihood(self, v: np.ndarray, rng: np.random.Generator) -> float:
        """Stochastic pseudo-log-likelihood per sample: D * log sigmoid(F(v~) - F(v)), one random bit flipped.

        Defined for binary visible units; data in [0, 1] is binarised at 0.5 first.
        """
        if self.visible_units != "bernoulli":
            raise ValueError("pseudo-likelihood needs bernoulli visible units")
        v = (np.asarray(v) > 0.5).astype(self.dtype)
        flipped = v.copy()
        index = rng.integers(0, v.shape[1], size=len(v))
        rows = np.arange(len(v))
        flipped[rows, index] = 1 - flipped[rows, index]
        gap = (self.free_energy(flipped) - self.free_energy(v)).astype(np.float64)
        return float(np.mean(v.shape[1] * -np.logaddexp(0.0, -gap)))

    # -- learning -----------------------------------------------------------------------------------
    def gibbs(self, v: np.ndarray, steps: int, noise: Noise, sample_visible: bool = True) -> np.ndarray:
        """Run `steps` alternating Gibbs updates v -> h -> v from v; return the last visible state."""
        for _ in range(steps):
            h = self.sample_hidden(v, noise)[1]
            mu, sampled = self.sample_visible(h, noise)
            v = sampled if sample_visible else mu
        return v

    def cd_statistics(self, v0: np.ndarray, k: int, noise: Noise, chain: np.ndarray | None = None) -> tuple:
        """The phases of CD-k (chain None) or PCD (chain: fantasy particles): (ph0, vk, phk).

        CD starts its negative chain at the data and uses visible means in the reconstruction (Hinton's
        practical guide); PCD samples the visible units so its persistent chains are a proper Markov chain
        (vk is then the new chain state).
        """
        ph0, h = self.sample_hidden(v0, noise)
        persistent = chain is not None
        if persistent:
            h = self.sample_hidden(chain, noise)[1]
        for step in range(k):
            mu, sampled = self.sample_visible(h, noise)
            v = sampled if persistent else mu
            if step < k - 1:
                h = self.sample_hidden(v, noise)[1]
        return ph0, v, self.hidden_mean(v)

    def cd_gradient(self, v0: np.ndarray, k: int, noise: Noise, chain: np.ndarray | None = None) -> tuple:
        """Approximate log-likelihood gradient (dW, db, dc) and the chain's last visible state."""
        ph0, v, phk = self.cd_statistics(v0, k, noise, chain)
        dw = ph0.T @ v0 / len(v0) - phk.T @ v / len(v)
        return dw, ph0.mean(axis=0) - phk.mean(axis=0), v0.mean(axis=0) - v.mean(axis=0), v


class RBMTrainer:
    """Mini-batch CD-k / PCD training of one RBM: the schedule (epochs, shuffles, momentum) and monitors.

    The updates themselves run on an engine: backends.energy.engine.HostEngine by default, or a device
    engine with the same interface (backends/numba_cuda/rbm.py).
    """

    def __init__(self, rbm: RBM, config: RBMConfig, rng: np.random.Generator | None = None, engine=None):
        from .engine import HostEngine
        self.rbm, self.config = rbm, config
        self.rng = rng or np.random.default_rng(config.seed)
        self.noise = Noise(self.rng)
        self.engine = engine or HostEngine(rbm, config, self.rng, self.noise)
        self.epoch = 0

    def step(self, v0: np.ndarray, momentum: float) -> None:
        """One update on a mini-batch v0."""
        self.engine.bind(v0)
        self.engine.step(np.arange(len(v0)), momentum)

    def train_epoch(self, data: np.ndarray, progress=None) -> dict:
        """One pass over `data` in shuffled mini-batches; returns the epoch's monitors."""
        cfg = self.config
        momentum = cfg.momentum_at(self.epoch)
        order = self.rng.permutation(len(data))
        self.engine.bind(data)
        batches = 0
        for start in range(0, len(data), cfg.batch_size):
            rows = order[start:start + cfg.batch_size]
            chain = self.engine.chain
            if cfg.is_persistent and chain is not None and len(rows) != len(chain) and not cfg.chains:
                continue            # a short last batch would resize the persistent chains
            self.engine.step(rows, momentum)
            batches += 1
            if progress is not None:
                progress(start + len(rows))
        self.engine.sync()
        self.epoch += 1
        return {"epoch": self.epoch, "batches": batches}

    def monitors(self, data: np.ndarray, held_out: np.ndarray | None = None) -> dict:
        """Reconstruction error, pseudo-likelihood (binary visible) and the free-energy gap to held-out data."""
        sample = data[:min(len(data), 1024)]
        out = {"recon_error": self.rbm.reconstruction_error(sample),
               "free_energy": float(self.rbm.free_energy(sample).mean())}
        if self.rbm.visible_units == "bernoulli":
            out["pseudo_likelihood"] = self.rbm.pseudo_likelihood(sample, np.random.default_rng(0))
        if held_out is not None and len(held_out):
            out["free_energy_gap"] = float(self.rbm.free_energy(held_out[:len(sample)]).mean()) - out["free_energy"]
        return out

    def state(self) -> dict:
        """Everything a resumed run needs besides the epoch and the RNG: parameters and engine state."""
        self.engine.sync()
        return {**{k: v.copy() for k, v in self.rbm.params().items()},
                **{k: np.array(v) for k, v in self.engine.state().items()}}

    def load_state(self, saved: dict) -> None:
        """Continue from a state saved after an epoch (see backends/energy/resume.py)."""
        arrays = saved["arrays"]
        self.rbm.load({key: arrays[key] for key in ("weight", "bias", "visible_bias")})
        self.engine.load_state(arrays)
        self.epoch = int(saved["epoch"])
        self.rng.bit_generator.state = saved["rng"]

    def fit(self, data: np.ndarray, log=None, held_out: np.ndarray | None = None, after_epoch=None) -> RBM:
        """Train until config.epochs; `log(row)` then `after_epoch(trainer)` follow each epoch."""
        data = np.ascontiguousarray(data, dtype=self.rbm.dtype)
        while self.epoch < self.config.epochs:
            self.train_epoch(data)
            if log is not None:
                log({"epoch": self.epoch, **self.monitors(data, held_out)})
            if after_epoch is not None:
                after_epoch(self)
        return self.rbm
