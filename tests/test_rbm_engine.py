"""The host engine's fused CD-1 / PCD-1 step against a float64 reference that replays its random numbers."""
import numpy as np
import pytest

from backends.energy.rbm import RBM, RBMConfig, RBMTrainer

VISIBLE, HIDDEN, BATCH = 12, 7, 16


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def uniforms(key, shape):
    """The engine's counter-based uniforms (SplitMix64 of key + (position + 1) * golden), in NumPy."""
    golden, mix1, mix2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
    with np.errstate(over="ignore"):
        z = np.uint64(key) + np.arange(1, np.prod(shape) + 1, dtype=np.uint64) * golden
        z = (z ^ (z >> np.uint64(30))) * mix1
        z = (z ^ (z >> np.uint64(27))) * mix2
        z ^= z >> np.uint64(31)
    return ((z >> np.uint64(40)).astype(np.float64) / 2.0 ** 24).reshape(shape)


def draw(mean, rng):
    return (uniforms(rng.bit_generator.random_raw(), mean.shape) < mean).astype(np.float64)


def reference_steps(v0, w, b, c, cfg, rng, momentum, steps):
    """The update the engine documents, in float64, drawing the same uniforms in the same order and layout."""
    chain = v0[rng.integers(0, len(v0), len(v0))].astype(np.float64) if cfg.persistent else None
    velocity = [np.zeros_like(w), np.zeros_like(b), np.zeros_like(c)]
    for _ in range(steps):
        ph0 = sigmoid(w @ v0.T + b[:, None])                          # (hidden, batch): feature-major
        start = chain if cfg.persistent else v0
        h_mean = sigmoid(w @ start.T + b[:, None]) if cfg.persistent else ph0
        h = draw(h_mean, rng)
        vk = sigmoid(h.T @ w + c)
        if cfg.persistent:                                            # PCD chains sample their visible units
            vk = draw(vk, rng)
            chain = vk
        phk = sigmoid(w @ vk.T + b[:, None])
        n = len(v0)
        grads = [(ph0 @ v0 - phk @ vk) / n, ph0.mean(axis=1) - phk.mean(axis=1), v0.mean(axis=0) - vk.mean(axis=0)]
        decays = [cfg.lr * cfg.weight_decay, 0.0, 0.0]
        for i, (param, grad) in enumerate(zip((w, b, c), grads)):
            velocity[i] = momentum * velocity[i] + cfg.lr * grad - decays[i] * param
            param += velocity[i]
    return w, b, c, chain


@pytest.mark.parametrize("persistent", [False, True], ids=["cd1", "pcd1"])
def test_fused_step_matches_float64_reference(persistent):
    v0 = (np.random.default_rng(3).random((BATCH, VISIBLE)) < 0.3).astype(np.float32)
    rbm = RBM(VISIBLE, HIDDEN, rng=np.random.default_rng(0), init_scale=0.5)
    rbm.bias[:] = np.linspace(-1, 1, HIDDEN)
    rbm.visible_bias[:] = np.linspace(0.5, -0.5, VISIBLE)
    start = [a.astype(np.float64) for a in (rbm.weight, rbm.bias, rbm.visible_bias)]
    cfg = RBMConfig(lr=0.2, k=1, weight_decay=0.01, batch_size=BATCH, persistent=persistent)
    trainer = RBMTrainer(rbm, cfg, np.random.default_rng(5))
    assert trainer.engine.fused
    for _ in range(3):
        trainer.step(v0, 0.5)
    w, b, c, chain = reference_steps(v0.astype(np.float64), *(a.copy() for a in start), cfg, np.random.default_rng(5), 0.5, 3)
    assert np.abs(w - start[0]).max() > 0.05        # the steps moved the weights
    np.testing.assert_allclose(rbm.weight, w, atol=2e-5)
    np.testing.assert_allclose(rbm.bias, b, atol=2e-5)
    np.testing.assert_allclose(rbm.visible_bias, c, atol=2e-5)
    if persistent:
        np.testing.assert_array_equal(trainer.engine.chain, chain)


def test_bernoulli_draw_uniforms_match_numpy_reference_and_are_uniform():
    """The kernel's counter-based uniforms: the documented SplitMix64 stream, evenly spread and independent."""
    from backends.energy import kernels
    key = np.random.default_rng(11).bit_generator.random_raw()
    thresholds = np.tile(np.arange(1, 257, dtype=np.float32) / 257, (4000, 1))   # 256 points of the CDF
    sample = np.empty_like(thresholds)
    kernels.bernoulli_draw(thresholds, np.uint64(key), sample)
    np.testing.assert_array_equal(sample, (uniforms(key, thresholds.shape) < thresholds).astype(np.float32))
    frequency = sample.mean(axis=0)                   # P(u < t) = t, 4000 draws per threshold
    sigma = np.sqrt(thresholds[0] * (1 - thresholds[0]) / len(sample))
    assert np.abs(frequency - thresholds[0]).max() < 5 * sigma.max()
    half = np.full((1000, 1000), 0.5, np.float32)
    bits = np.empty_like(half)
    kernels.bernoulli_draw(half, np.uint64(key), bits)
    flat = bits.ravel()
    assert abs(flat.mean() - 0.5) < 5 * 0.5 / 1000
    # neighbours (next element, next row) are uncorrelated, and a different key gives different bits
    for lag in (1, 1000):
        both = (flat[:-lag] * flat[lag:]).mean()
        assert abs(both - 0.25) < 5 * np.sqrt(0.25 * 0.75 / flat.size)
    other = np.empty_like(half)
    kernels.bernoulli_draw(half, np.uint64(key ^ 1), other)
    assert abs((bits == other).mean() - 0.5) < 0.005
