"""Exact quantities of small binary RBMs and DBMs by enumerating every state (for tests and verification)."""
from __future__ import annotations

import numpy as np

from .units import softplus

MAX_ENUMERATED_UNITS = 22


def all_states(count: int, dtype=np.float64) -> np.ndarray:
    """Every binary vector of length `count`, one per row (2^count rows)."""
    if count > MAX_ENUMERATED_UNITS:
        raise ValueError(f"enumerating 2^{count} states is too many (at most 2^{MAX_ENUMERATED_UNITS})")
    codes = np.arange(2 ** count)[:, None]
    return ((codes >> np.arange(count)) & 1).astype(dtype)


def _logsumexp(x: np.ndarray, axis=None) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    out = top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


def log_partition(weight, bias, visible_bias) -> float:
    """log Z of a bernoulli-bernoulli RBM, summing the free energy over every visible state."""
    weight = np.asarray(weight, np.float64)
    states = all_states(weight.shape[1])
    neg_free = states @ np.asarray(visible_bias, np.float64) + softplus(states @ weight.T + bias).sum(axis=1)
    return float(_logsumexp(neg_free))


def free_energy(weight, bias, visible_bias, v) -> np.ndarray:
    """F(v) = -c.v - sum_j softplus(W_j v + b_j) in float64."""
    v = np.asarray(v, np.float64)
    return -(v @ np.asarray(visible_bias, np.float64)) - softplus(v @ np.asarray(weight, np.float64).T + bias).sum(1)


def log_likelihood(weight, bias, visible_bias, data) -> float:
    """Mean log p(v) over `data` (binary rows)."""
    return float(-free_energy(weight, bias, visible_bias, data).mean() - log_partition(weight, bias, visible_bias))


def log_likelihood_gradient(weight, bias, visible_bias, data) -> tuple:
    """The exact gradient of the mean log-likelihood: <v h>_data - <v h>_model, by enumeration."""
    weight = np.asarray(weight, np.float64)
    data = np.asarray(data, np.float64)
    ph_data = 1.0 / (1.0 + np.exp(-(data @ weight.T + bias)))
    states = all_states(weight.shape[1])
    neg_free = states @ np.asarray(visible_bias, np.float64) + softplus(states @ weight.T + bias).sum(axis=1)
    p_model = np.exp(neg_free - _logsumexp(neg_free))
    ph_model = 1.0 / (1.0 + np.exp(-(states @ weight.T + bias)))
    dw = ph_data.T @ data / len(data) - (ph_model * p_model[:, None]).T @ states
    db = ph_data.mean(0) - p_model @ ph_model
    dc = data.mean(0) - p_model @ states
    return dw, db, dc


def dbm_log_likelihood(weights: list, biases: list, data) -> float:
    """Mean exact log p(v) of a small binary DBM. weights[l]: (n_{l+1}, n_l); biases[0] is the visible bias.

    Sums out the odd layers analytically and enumerates the even ones (visible included) and, for the
    partition function, every state of the even layers.
    """
    weights = [np.asarray(w, np.float64) for w in weights]
    biases = [np.asarray(b, np.float64) for b in biases]
    sizes = [len(b) for b in biases]
    even = list(range(0, len(sizes), 2))

    def neg_free(states_by_layer):
        """-F over the even layers' given states (each array rows aligned), odd layers summed out."""
        total = sum(states_by_layer[layer] @ biases[layer] for layer in even)
        for layer in range(1, len(sizes), 2):
            x = biases[layer] + states_by_layer[layer - 1] @ weights[layer - 1].T
            if layer + 1 < len(sizes):
                x = x + states_by_layer[layer + 1] @ weights[layer]
            total = total + softplus(x).sum(axis=1)
        return total

    hidden_even = [layer for layer in even if layer]
    grid = all_states(sum(sizes[layer] for layer in even))
    split = np.cumsum([sizes[layer] for layer in even])[:-1]
    parts = dict(zip(even, np.split(grid, split, axis=1)))
    log_z = _logsumexp(neg_free(parts))
    data = np.asarray(data, np.float64)
    hidden_grid = all_states(sum(sizes[layer] for layer in hidden_even)) if hidden_even else np.zeros((1, 0))
    hsplit = np.cumsum([sizes[layer] for layer in hidden_even])[:-1]
    hidden_parts = dict(zip(hidden_even, np.split(hidden_grid, hsplit, axis=1))) if hidden_even else {}
    total = 0.0
    for v in data:
        states = {0: np.repeat(v[None], len(hidden_grid), axis=0), **hidden_parts}
        total += _logsumexp(neg_free(states))
    return float(total / len(data) - log_z)
