"""Every visible / hidden unit pairing of an rbm layer learns digits: its reconstruction error falls."""
import numpy as np
import pytest

from backends.energy.rbm import RBM, RBMConfig, RBMTrainer


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    pixels = load_digits().data.astype(np.float64)
    standardised = (pixels - pixels.mean(0)) / (pixels.std(0) + 1e-8)
    return {"bernoulli": (pixels / 16.0).astype(np.float32), "gaussian": standardised.astype(np.float32)}


@pytest.mark.parametrize("visible,hidden,lr", [("gaussian", "bernoulli", 0.005), ("bernoulli", "relu", 0.01),
                                               ("gaussian", "relu", 0.002), ("bernoulli", "gaussian", 0.005)])
def test_unit_pairing_learns(digits, visible, hidden, lr):
    """Gaussian visible units get standardised pixels, binary ones pixels in [0, 1]."""
    data = digits[visible]
    rbm = RBM(64, 100, visible, hidden, rng=np.random.default_rng(0))
    rbm.init_visible_bias(data)
    before = rbm.reconstruction_error(data[:500])
    RBMTrainer(rbm, RBMConfig(lr=lr, epochs=10, batch_size=20, weight_decay=1e-4), np.random.default_rng(1)).fit(data)
    after = rbm.reconstruction_error(data[:500])
    print(f"{visible}-{hidden}: reconstruction error {before:.4f} -> {after:.4f} (data variance {data.var():.3f})")
    assert np.isfinite(after) and after < 0.3 * before
