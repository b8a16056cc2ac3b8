"""The RBM (and a small DBM) against exact enumeration on tiny models (10 visible, 10 hidden units: 2^10 states each side)."""
import numpy as np
import pytest

from backends.energy import exact
from backends.energy.rbm import RBM, RBMConfig, RBMTrainer
from backends.energy.units import Noise

V, H = 10, 10


def tiny_rbm(seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    rbm = RBM(V, H, dtype=np.float64, init_scale=scale, rng=rng)
    rbm.bias = rng.normal(0, 0.3, H)
    rbm.visible_bias = rng.normal(0, 0.3, V)
    return rbm


def toy_data(count=200, seed=1):
    """Noisy copies of three binary prototypes."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((3, V)) < 0.5).astype(np.float64)
    picks = prototypes[rng.integers(0, 3, count)]
    flips = rng.random(picks.shape) < 0.05
    return np.abs(picks - flips)


def test_free_energy_matches_sum_over_hidden_states():
    rbm = tiny_rbm()
    v = toy_data(16)
    hidden = exact.all_states(H)
    for row in v:
        energies = rbm.energy(np.repeat(row[None], len(hidden), 0), hidden)
        brute = -np.log(np.exp(-energies).sum())
        assert rbm.free_energy(row[None])[0] == pytest.approx(brute, rel=1e-10, abs=1e-10)
    assert np.allclose(rbm.free_energy(v), exact.free_energy(rbm.weight, rbm.bias, rbm.visible_bias, v))


def test_probabilities_sum_to_one():
    rbm = tiny_rbm()
    states = exact.all_states(V)
    log_p = -rbm.free_energy(states) - exact.log_partition(rbm.weight, rbm.bias, rbm.visible_bias)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-9)


def test_exact_gradient_matches_finite_differences():
    rbm = tiny_rbm(scale=0.3)
    data = toy_data(50)
    dw, db, dc = exact.log_likelihood_gradient(rbm.weight, rbm.bias, rbm.visible_bias, data)
    eps = 1e-5
    params = {"weight": rbm.weight, "bias": rbm.bias, "visible_bias": rbm.visible_bias}
    analytic = {"weight": dw, "bias": db, "visible_bias": dc}
    rng = np.random.default_rng(3)
    for name, array in params.items():
        for _ in range(6):
            index = tuple(rng.integers(0, s) for s in array.shape)
            saved = array[index]
            array[index] = saved + eps
            up = exact.log_likelihood(rbm.weight, rbm.bias, rbm.visible_bias, data)
            array[index] = saved - eps
            down = exact.log_likelihood(rbm.weight, rbm.bias, rbm.visible_bias, data)
            array[index] = saved
            assert (up - down) / (2 * eps) == pytest.approx(analytic[name][index], abs=1e-6)


def test_long_chain_pcd_gradient_estimates_the_exact_gradient():
    rbm = tiny_rbm(scale=0.3)
    data = toy_data(400)
    exact_dw, _, _ = exact.log_likelihood_gradient(rbm.weight, rbm.bias, rbm.visible_bias, data)
    noise = Noise(np.random.default_rng(5))
    estimates = [rbm.cd_gradient(data, 50, noise, chain=data.copy())[0] for _ in range(5)]
    estimate = np.mean(estimates, axis=0)
    correlation = np.corrcoef(estimate.ravel(), exact_dw.ravel())[0, 1]
    assert correlation > 0.9, correlation


@pytest.mark.parametrize("method,k", [("cd", 1), ("cd", 5), ("pcd", 1)])
def test_training_raises_the_true_log_likelihood(method, k):
    data = toy_data(300)
    rbm = RBM(V, H, dtype=np.float64, init_scale=0.1, rng=np.random.default_rng(0))
    rbm.init_visible_bias(data)
    before = exact.log_likelihood(rbm.weight, rbm.bias, rbm.visible_bias, data)
    if method == "pcd":    # persistent chains need a smaller step and steady momentum (Tieleman 2008)
        config = RBMConfig(method="pcd", k=k, lr=0.03, momentum=(0.5,), chains=100)
    else:
        config = RBMConfig(method="cd", k=k, lr=0.05, momentum=(0.5, 0.9))
    config = config.updated(epochs=30, batch_size=20, weight_decay=1e-4)
    RBMTrainer(rbm, config, np.random.default_rng(1)).fit(data)
    after = exact.log_likelihood(rbm.weight, rbm.bias, rbm.visible_bias, data)
    print(f"{method}-{k}: exact log-likelihood {before:.3f} -> {after:.3f}")
    assert after > before + 0.5


def test_dbm_log_likelihood_matches_enumerating_every_layer():
    """The DBM oracle (odd layers summed out analytically) against a sum over every joint state."""
    rng = np.random.default_rng(4)
    sizes = [4, 3, 3]
    weights = [rng.normal(0, 0.8, (sizes[i + 1], sizes[i])) for i in range(2)]
    biases = [rng.normal(0, 0.5, n) for n in sizes]
    states = exact.all_states(sum(sizes))
    v, h1, h2 = np.split(states, np.cumsum(sizes)[:-1], axis=1)
    neg_energy = (v @ biases[0] + h1 @ biases[1] + h2 @ biases[2]
                  + np.einsum("si,ij,sj->s", h1, weights[0], v) + np.einsum("si,ij,sj->s", h2, weights[1], h1))
    log_z = np.logaddexp.reduce(neg_energy)
    data = (rng.random((5, sizes[0])) < 0.5).astype(np.float64)
    expected = np.mean([np.logaddexp.reduce(neg_energy[(v == row).all(axis=1)]) - log_z for row in data])
    assert exact.dbm_log_likelihood(weights, biases, data) == pytest.approx(expected, abs=1e-9)


def test_dbm_joint_training_raises_the_true_log_likelihood():
    """Doubled-weight pretraining, then joint training at the spec's default joint_lr: exact log p(v) rises
    towards the data's entropy (four 12-bit prototypes with 5% flipped bits: 3.77 nats)."""
    from backends.energy.stack import DBM, LayerPlan
    from netspec.config import read_pretrain
    defaults = read_pretrain({"method": "dbm"})
    rng = np.random.default_rng(0)
    prototypes = (rng.random((4, 12)) < 0.5).astype(np.float64)
    data = prototypes[rng.integers(0, 4, 2000)]
    data = np.abs(data - (rng.random(data.shape) < 0.05))
    plans = [LayerPlan(name, hidden, "bernoulli", "bernoulli",
                       RBMConfig(lr=0.05, epochs=30, batch_size=20, weight_decay=1e-4, init_scale=0.1))
             for name, hidden in (("a", 10), ("b", 6))]
    dbm = DBM.pretrain(data, plans, np.float64)
    pretrained = exact.dbm_log_likelihood(dbm.weights, dbm.biases, data[:500])
    dbm.fit(data, 10, lr=defaults.joint_lr, batch_size=20, chains=100, mean_field_steps=10,
            momentum=defaults.momentum[-1], weight_decay=defaults.weight_decay, seed=3)
    joint = exact.dbm_log_likelihood(dbm.weights, dbm.biases, data[:500])
    print(f"DBM 12-10-6: exact log-likelihood {pretrained:.3f} after pretraining -> {joint:.3f} after joint training")
    assert joint > pretrained + 1.0
    assert joint > -3.77 - 1.0
