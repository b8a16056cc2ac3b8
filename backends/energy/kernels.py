"""Fused one-pass Numba loops for the RBM's CD step (float32 stays float32, no temporaries).

The sigmoid stays with NumPy's SIMD float32 exp (Numba without SVML calls a scalar libm exp); these
loops fuse what vectorises: the Bernoulli draw with its own counter-based uniforms, and the momentum
and weight-decay update of a parameter in one pass.

The draw's uniforms come from a counter-based generator: element `c` (row-major position) of a draw
with key `key` is the SplitMix64 output for state `key + (c + 1) * GOLDEN`, whose top 24 bits make a
float32 in [0, 1). Every element is independent of the others, so the loop vectorises (no generator
state carried between elements), and the key, one 64-bit draw from the trainer's NumPy generator per
call, keeps training reproducible from its seed and resumable from the generator's saved state.
"""
from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)      # SplitMix64's state increment (2^64 / golden ratio)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)        # its finaliser's multipliers
MIX2 = np.uint64(0x94D049BB133111EB)
UNIT24 = np.float32(1.0 / (1 << 24))        # 24 random bits -> a float32 in [0, 1)


@njit(cache=True, fastmath=True, error_model="numpy")
def bernoulli_draw(mean, key, sample):
    """sample <- 1 where uniform(key, position) < mean, else 0, over 2-D arrays (sample may be mean)."""
    cols = mean.shape[1]
    for i in range(mean.shape[0]):
        row = key + np.uint64(i * cols) * GOLDEN
        for j in range(cols):
            z = row + np.uint64(j + 1) * GOLDEN
            z = (z ^ (z >> np.uint64(30))) * MIX1
            z = (z ^ (z >> np.uint64(27))) * MIX2
            z = z ^ (z >> np.uint64(31))
            uniform = np.float32(z >> np.uint64(40)) * UNIT24
            sample[i, j] = np.float32(1.0) if uniform < mean[i, j] else np.float32(0.0)


@njit(cache=True, fastmath=True, error_model="numpy")
def momentum_step(param, velocity, grad, momentum, grad_scale, decay):
    """velocity <- momentum * velocity + grad_scale * grad - decay * param; param <- param + velocity."""
    p, v, g = param.reshape(param.size), velocity.reshape(velocity.size), grad.reshape(grad.size)
    for i in range(p.size):
        step = momentum * v[i] + grad_scale * g[i] - decay * p[i]
        v[i] = step
        p[i] += step
