"""Fused one-pass Numba loops for the RBM's CD step (float32 stays float32, no temporaries).

The sigmoid stays with NumPy's SIMD float32 exp (Numba without SVML calls a scalar libm exp); these
loops fuse what vectorises: the Bernoulli draw against pre-drawn uniforms, and the momentum and
weight-decay update of a parameter in one pass.
"""
from __future__ import annotations

from numba import njit


@njit(cache=True, fastmath=True, error_model="numpy")
def bernoulli_draw(mean, uniform, sample):
    """sample <- 1 where uniform < mean, else 0, over 2-D arrays (views too; sample may be uniform itself)."""
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            sample[i, j] = 1.0 if uniform[i, j] < mean[i, j] else 0.0


@njit(cache=True, fastmath=True, error_model="numpy")
def momentum_step(param, velocity, grad, momentum, grad_scale, decay):
    """velocity <- momentum * velocity + grad_scale * grad - decay * param; param <- param + velocity."""
    p, v, g = param.reshape(param.size), velocity.reshape(velocity.size), grad.reshape(grad.size)
    for i in range(p.size):
        step = momentum * v[i] + grad_scale * g[i] - decay * p[i]
        v[i] = step
        p[i] += step
