"""RBMs, DBNs and deep autoencoders on scikit-learn's digits scaled to [0, 1] (fixed seeds)."""
import numpy as np
import pytest

from backends.energy import unrolled
from backends.energy.rbm import RBM, RBMConfig, RBMTrainer
from backends.energy.stack import LayerPlan, train_dbn
from netspec.data import load_dataset

pytest.importorskip("sklearn")
CD = RBMConfig(lr=0.05, epochs=30, batch_size=20, momentum=(0.5, 0.9), weight_decay=1e-4)


@pytest.fixture(scope="module")
def digits():
    return load_dataset({"name": "digits"}, (64,), seed=0)


@pytest.fixture(scope="module")
def dbn(digits):
    return train_dbn(digits.x_train, [LayerPlan("rbm_0", 256, config=CD), LayerPlan("rbm_1", 256, config=CD)])


def _head(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.01, (10, 256)).astype(np.float32), np.zeros(10, np.float32)


def _random_stack():
    """The same 64-256-256 net with PyTorch's default uniform(+-1/sqrt(fan_in)) initialisation."""
    rbms = [RBM(64, 256), RBM(256, 256)]
    for seed, rbm in enumerate(rbms):
        fan_in = rbm.shape[1]
        rbm.weight = np.random.default_rng(seed).uniform(-1, 1, rbm.shape).astype(np.float32) / np.sqrt(fan_in)
    return rbms


def _accuracy(net, x, y):
    return float((net.forward(x).argmax(axis=1) == y).mean())


def test_rbm_features_beat_raw_pixels_sklearn_protocol():
    """scikit-learn's example: digits nudged by one-pixel shifts to 5x, 20% held out, 100 hidden units."""
    from sklearn.linear_model import LogisticRegression
    data = load_dataset({"name": "digits", "shift_augment": True, "test_fraction": 0.2}, (64,), seed=0)
    assert len(data.x_train) + len(data.x_test) == 5 * 1797 and data.x_train.max() <= 1.0
    raw = LogisticRegression(C=10.0, max_iter=500).fit(data.x_train, data.y_train).score(data.x_test, data.y_test)
    rbm = RBM(64, 100, rng=np.random.default_rng(0))
    rbm.init_visible_bias(data.x_train)
    RBMTrainer(rbm, RBMConfig(lr=0.1, epochs=20, batch_size=20, momentum=(0.5, 0.9), weight_decay=1e-4)).fit(
        data.x_train)
    features, test_features = rbm.hidden_mean(data.x_train.copy()), rbm.hidden_mean(data.x_test.copy())
    accuracy = LogisticRegression(C=10.0, max_iter=500).fit(features, data.y_train).score(test_features, data.y_test)
    print(f"logistic regression: raw pixels {raw:.4f}, RBM(100) features {accuracy:.4f}")
    assert accuracy >= 0.94
    assert raw < accuracy - 0.05


def test_pretrained_dbn_fine_tuned_on_all_labels(digits, dbn):
    net = unrolled.classifier(dbn, *_head()).fit(digits.x_train, digits.y_train, "cross_entropy", 30, lr=1e-3,
                                                  batch_size=32)
    accuracy = _accuracy(net, digits.x_test, digits.y_test)
    print(f"DBN 64-256-256-10 fine-tuned on all labels: test accuracy {accuracy:.4f}")
    assert accuracy >= 0.97


def test_pretraining_beats_random_init_with_100_labels(digits, dbn):
    x, y = digits.x_train[:100], digits.y_train[:100]
    assert len(np.unique(y)) == 10
    pretrained = unrolled.classifier(dbn, *_head()).fit(x, y, "cross_entropy", 200, lr=1e-3, batch_size=32)
    scratch = unrolled.classifier(_random_stack(), *_head()).fit(x, y, "cross_entropy", 200, lr=1e-3, batch_size=32)
    with_pretraining = _accuracy(pretrained, digits.x_test, digits.y_test)
    from_random = _accuracy(scratch, digits.x_test, digits.y_test)
    print(f"100 labels: pretrained DBN {with_pretraining:.4f} vs random init {from_random:.4f}")
    assert with_pretraining > from_random + 0.02


def test_deep_autoencoder_beats_pca_at_the_same_code_size(digits):
    from sklearn.decomposition import PCA
    code = 10
    x, x_test = digits.x_train, digits.x_test
    pca = PCA(code, random_state=0).fit(x)
    pca_error = float(np.mean((pca.inverse_transform(pca.transform(x_test)) - x_test) ** 2))
    top = CD.updated(lr=0.005, init_scale=0.1)
    rbms = train_dbn(x, [LayerPlan("enc1", 128, config=CD), LayerPlan("enc2", 64, config=CD),
                         LayerPlan("code", code, hidden_units="gaussian", config=top)])
    net = unrolled.autoencoder(rbms)
    pretrained_error = float(np.mean((net.predict(x_test) - x_test) ** 2))
    net.fit(x, x, "bce", 50, lr=1e-3, batch_size=32)
    error = float(np.mean((net.predict(x_test) - x_test) ** 2))
    print(f"held-out reconstruction MSE at code size {code}: PCA {pca_error:.5f}, deep autoencoder {error:.5f} "
          f"(before fine-tuning {pretrained_error:.5f})")
    assert error < pca_error
    assert error < pretrained_error
