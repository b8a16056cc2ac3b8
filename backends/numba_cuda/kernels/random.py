"""On-device random numbers (numba.cuda.random xoroshiro128p): dropout masks and RBM Gibbs sampling.

Every random kernel launches exactly one thread per generator state and strides over its items,
so the states advance deterministically for a given seed.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from numba import cuda
from numba.cuda.random import create_xoroshiro128p_states, xoroshiro128p_normal_float32, xoroshiro128p_uniform_float32

from ..device import F0, F1, RNG_THREADS, THREADS, launch
from .elementwise import flat, sigmoid

BERNOULLI, GAUSSIAN, RELU = 0, 1, 2
UNITS = {"bernoulli": BERNOULLI, "gaussian": GAUSSIAN, "relu": RELU}


def make_states(seed: int):
    """RNG_THREADS generator states (the CPU initialisation is noisy under the simulator: silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_xoroshiro128p_states(RNG_THREADS, seed=int(seed) & 0xFFFFFFFFFFFF)


def _config():
    return RNG_THREADS // THREADS, THREADS


def _launch(*args):
    """Launch a random kernel; the simulator's Python xoroshiro128p wraps uint64s with NumPy overflow warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        launch(*args)


@cuda.jit(cache=True)
def _dropout(x, y, mask, states, p, keep_scale):
    tid = cuda.grid(1)
    i = tid
    while i < x.size:
        m = keep_scale if xoroshiro128p_uniform_float32(states, tid) >= p else F0
        mask[i] = m
        y[i] = x[i] * m
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _units(pre, bias, mean, sample, inner, kind, states, draw):
    """mean = E[unit | pre + bias]; sample drawn from it when `draw` (bias broadcast over the last axis)."""
    tid = cuda.grid(1)
    i = tid
    while i < pre.size:
        x = pre[i] + bias[i % inner]
        if kind == BERNOULLI:
            mu = sigmoid(x)
        elif kind == RELU:
            mu = max(x, F0)
        else:
            mu = x
        mean[i] = mu
        if draw:
            if kind == BERNOULLI:
                sample[i] = F1 if xoroshiro128p_uniform_float32(states, tid) < mu else F0
            elif kind == GAUSSIAN:
                sample[i] = mu + xoroshiro128p_normal_float32(states, tid)
            else:                   # noisy rectified unit: max(0, x + N(0, sigmoid(x)))
                std = math.sqrt(sigmoid(x))
                sample[i] = max(x + std * xoroshiro128p_normal_float32(states, tid), F0)
        i += cuda.gridsize(1)


def dropout(x, p: float, states):
    """(y, mask) with mask = 1/(1-p) where kept, else 0."""
    from ..device import empty
    y, mask = empty(x.shape), empty(x.shape)
    _launch(_dropout, _config(), flat(x), flat(y), flat(mask), states, np.float32(p), np.float32(1.0 / (1.0 - p)))
    return y, mask


def units(pre, bias, kind: str, states, draw: bool = True):
    """(mean, sample or None) of RBM units with total input pre + bias, pre (batch, units)."""
    from ..device import empty
    mean = empty(pre.shape)
    sample = empty(pre.shape) if draw else mean
    _launch(_units, _config(), flat(pre), bias, flat(mean), flat(sample), int(bias.size), UNITS[kind], states,
           bool(draw))
    return mean, (sample if draw else None)


__all__ = ["UNITS", "dropout", "make_states", "units"]
