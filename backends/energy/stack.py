"""Stacks of RBMs: greedy DBN pretraining, DBM pretraining plus joint training, and sampling from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rbm import RBM, RBMConfig, RBMTrainer
from .units import Noise, sigmoid


@dataclass
class LayerPlan:
    """One RBM of a stack: its size, unit types and training settings."""

    name: str
    hidden: int
    visible_units: str = "bernoulli"
    hidden_units: str = "bernoulli"
    config: RBMConfig = None


def propagate(rbm: RBM, data: np.ndarray, how: str, rng: np.random.Generator, batch: int = 4096) -> np.ndarray:
    """What the next RBM of a stack trains on: hidden means ('mean') or one sample of them ('sample')."""
    out = []
    noise = Noise(rng)
    for start in range(0, len(data), batch):
        chunk = data[start:start + batch]
        out.append(rbm.sample_hidden(chunk, noise)[1] if how == "sample" else rbm.hidden_mean(chunk))
    return np.concatenate(out) if out else data[:0]


def train_dbn(data: np.ndarray, plans: list, dtype=np.float32, log=None, held_out=None,
              up_down: list | None = None, progress=None, engine=None) -> list:
    """Greedy layer-wise training: each RBM learns the (propagated) output of the one below it.

    `up_down[i]` = (up, down) input multipliers during training (DBM pretraining doubles some).
    `log(name, row)` receives each epoch's monitors. `progress` (resume.PretrainProgress) saves each
    epoch and skips or continues what a killed run finished; `engine(rbm, config, rng, noise)` makes the
    update engine (default: the host engine).
    """
    rbms = []
    x = np.ascontiguousarray(data, dtype=dtype)
    x_held = None if held_out is None else np.ascontiguousarray(held_out, dtype=dtype)
    for index, plan in enumerate(plans):
        cfg = plan.config or RBMConfig()
        rng = np.random.default_rng(cfg.seed + 1000 * index)
        rbm = RBM(x.shape[1], plan.hidden, plan.visible_units, plan.hidden_units, dtype, cfg.init_scale, rng)
        rbm.init_visible_bias(x)
        if progress is not None and index < len(progress.finished):
            params, rng_state = progress.finished[index]
            rbm.load(params)
            rng.bit_generator.state = rng_state
        else:
            if up_down:
                rbm.up, rbm.down = up_down[index]
            made = None if engine is None else engine(rbm, cfg, rng, Noise(rng))
            trainer = RBMTrainer(rbm, cfg, rng, made)
            saved = None if progress is None else progress.resumed(index)
            if saved is not None:
                trainer.load_state(saved)
            save = None if progress is None else \
                (lambda t, i=index: progress.save(i, t.epoch, t.rng.bit_generator.state, t.state()))
            trainer.fit(x, None if log is None else (lambda row, n=plan.name: log(n, row)), x_held, save)
            rbm.up = rbm.down = 1.0
            if progress is not None:
                progress.finish_layer(rbm.params(), rng.bit_generator.state)
                progress.write()
        rbms.append(rbm)
        if index + 1 < len(plans):
            x = propagate(rbm, x, cfg.propagate, rng).astype(dtype, copy=False)
            if x_held is not None:
                x_held = rbm.hidden_mean(x_held)
    return rbms


def dbn_sample(rbms: list, count: int, steps: int, rng: np.random.Generator, start: np.ndarray | None = None):
    """Samples from a DBN: Gibbs in the top RBM, then one top-down pass of means to the visible units."""
    noise = Noise(rng)
    top = rbms[-1]
    if start is None:
        v = (rng.random((count, top.shape[1])) < 0.5).astype(top.dtype)
    else:
        v = start
        for rbm in rbms[:-1]:
            v = rbm.hidden_mean(v)
    v = top.gibbs(v, steps, noise)
    for rbm in reversed(rbms[:-1]):
        v = rbm.visible_mean(v)
    if len(rbms) > 1 or top.visible_units != "bernoulli":
        return v
    return top.visible_mean(top.hidden_mean(v))


class DBM:
    """A deep Boltzmann machine with binary hidden layers: weights[l] joins layer l (below) and l+1."""

    def __init__(self, rbms: list):
        self.weights = [r.weight.copy() for r in rbms]
        self.biases = [rbms[0].visible_bias.copy(), *(r.bias.copy() for r in rbms)]
        self.visible_units = rbms[0].visible_units
        self.dtype = rbms[0].dtype

    @classmethod
    def pretrain(cls, data, plans: list, dtype=np.float32, log=None, progress=None, engine=None) -> DBM:
        """Greedy pretraining with the doubled-weight correction (Salakhutdinov & Hinton 2009, 2012).

        The bottom RBM doubles its bottom-up input and the top RBM its top-down input, standing in for the
        missing input from the layer above (below) in the DBM; middle RBMs are trained plainly and their
        weights halved when composed, since each middle layer hears from both neighbours.
        """
        count = len(plans)
        up_down = [(2.0 if i == 0 else 1.0, 2.0 if i == count - 1 else 1.0) for i in range(count)]
        if count == 1:
            up_down = [(1.0, 1.0)]
        rbms = train_dbn(data, plans, dtype, log, up_down=up_down, progress=progress, engine=engine)
        dbm = cls(rbms)
        for i in range(1, count - 1):
            dbm.weights[i] *= 0.5
        return dbm

    @property
    def sizes(self) -> list:
        return [len(b) for b in self.biases]

    def _input(self, layer: int, states: list) -> np.ndarray:
        x = np.full((len(states[0]), self.sizes[layer]), 0, self.dtype) + self.biases[layer]
        if layer > 0:
            x += states[layer - 1] @ self.weights[layer - 1].T
        if layer + 1 < len(self.sizes):
            x += states[layer + 1] @ self.weights[layer]
        return x

    def _mean(self, layer: int, x: np.ndarray) -> np.ndarray:
        if layer == 0 and self.visible_units == "gaussian":
            return x
        return sigmoid(x, out=x)

    def mean_field(self, v: np.ndarray, steps: int = 10) -> list:
        """Variational posterior means of the hidden layers given v (bottom-up init with doubled weights)."""
        states = [v]
        for layer in range(1, len(self.sizes)):
            factor = 2.0 if layer + 1 < len(self.sizes) else 1.0
            states.append(sigmoid(factor * (states[-1] @ self.weights[layer - 1].T) + self.biases[layer]))
        for _ in range(steps):
            for layer in range(1, len(self.sizes)):
                states[layer] = self._mean(layer, self._input(layer, states))
        return states

    def gibbs(self, states: list, steps: int, noise: Noise, sample_visible: bool = True) -> list:
        """Alternating Gibbs sweeps: odd layers given even ones, then even layers given odd ones."""
        states = list(states)
        for _ in range(steps):
            for parity in (1, 0):
                for layer in range(parity, len(self.sizes), 2):
                    mu = self._mean(layer, self._input(layer, states))
                    if layer == 0 and self.visible_units == "gaussian":
                        states[0] = mu + noise.normal(mu.shape, mu.dtype) if sample_visible else mu
                    elif layer == 0 and not sample_visible:
                        states[0] = mu
                    else:
                        states[layer] = (noise.uniform(mu.shape, mu.dtype) < mu).astype(self.dtype)
        return states

    def fit(self, data: np.ndarray, epochs: int, lr: float = 0.01, batch_size: int = 64, chains: int | None = None,
            mean_field_steps: int = 10, momentum: float = 0.9, weight_decay: float = 2e-4, seed: int = 0,
            log=None, progress=None) -> DBM:
        """Joint training: mean-field positive phase, persistent Gibbs chains for the negative phase.

        `progress` (resume.PretrainProgress) saves every epoch as stage 'dbm' and continues a saved one.
        """
        rng = np.random.default_rng(seed)
        noise = Noise(rng)
        data = np.ascontiguousarray(data, dtype=self.dtype)
        count = chains or batch_size
        chain = self.mean_field(data[rng.integers(0, len(data), count)], 1)
        chain = [c if i == 0 else (rng.random(c.shape) < c).astype(self.dtype) for i, c in enumerate(chain)]
        vel_w = [np.zeros_like(w) for w in self.weights]
        vel_b = [np.zeros_like(b) for b in self.biases]
        groups = {"weight": self.weights, "bias": self.biases, "velocity.weight": vel_w, "velocity.bias": vel_b,
                  "chain": chain}
        saved = None if progress is None else progress.resumed("dbm")
        first = 0
        if saved is not None:
            for name, arrays in groups.items():
                for i in range(len(arrays)):
                    arrays[i] = np.array(saved["arrays"][f"{name}.{i}"], dtype=self.dtype)
            rng.bit_generator.state = saved["rng"]
            first = int(saved["epoch"])
        for epoch in range(first, epochs):
            order = rng.permutation(len(data))
            for start in range(0, len(data), batch_size):
                batch = data[order[start:start + batch_size]]
                pos = self.mean_field(batch, mean_field_steps)
                chain[:] = self.gibbs(chain, 1, noise)
                for i in range(len(self.weights)):
                    grad = pos[i + 1].T @ pos[i] / len(batch) - chain[i + 1].T @ chain[i] / count
                    vel_w[i] = momentum * vel_w[i] + lr * (grad - weight_decay * self.weights[i])
                    self.weights[i] += vel_w[i]
                for i in range(len(self.biases)):
                    grad = pos[i].mean(0) - chain[i].mean(0)
                    vel_b[i] = momentum * vel_b[i] + lr * grad
                    self.biases[i] += vel_b[i]
            if log is not None:
                sample = data[:1024]
                mf = self.mean_field(sample, mean_field_steps)
                recon = self._mean(0, self._input(0, mf))
                log("dbm", {"epoch": epoch + 1, "recon_error": float(np.mean((sample - recon) ** 2))})
            if progress is not None:
                progress.save("dbm", epoch + 1, rng.bit_generator.state,
                              {f"{name}.{i}": a for name, arrays in groups.items() for i, a in enumerate(arrays)})
        return self

    def sample(self, count: int, steps: int, rng: np.random.Generator) -> np.ndarray:
        """Visible means after `steps` Gibbs sweeps from random states."""
        states = [(rng.random((count, n)) < 0.5).astype(self.dtype) for n in self.sizes]
        states = self.gibbs(states, steps, Noise(rng))
        return self._mean(0, self._input(0, states))

    def params(self) -> list:
        """Per RBM layer: weight, bias (its hidden layer) and visible_bias (the layer below)."""
        return [{"weight": w, "bias": self.biases[i + 1], "visible_bias": self.biases[i]}
                for i, w in enumerate(self.weights)]
