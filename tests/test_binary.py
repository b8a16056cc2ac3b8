"""Binary networks: the straight-through gradients, the [-1, 1] clip of latent weights on every training backend,
1-bit parameters in `summary --json`, and bit-packed inference equal to the float path."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from backends.numpy import make_ops
from backends.runtime.executor import Executor
from backends.runtime.init import init_state
from backends.runtime.model import Model
from backends.runtime.optim import Optimizer
from netspec.api import load_graph
from netspec.config import read_train
from tests.conftest import ROOT, SPECS

MLP = """
name: tiny_binary
input: {shape: [6]}
layers:
  - {type: linear, units: 5, binary: true, bias: false}
  - binarize
  - {type: linear, units: 3, binary: BINARY}
train: {optimizer: {type: sgd, lr: 100.0}, epochs: 1, batch_size: 16, data: {name: synthetic, classes: 3, samples: 32}}
"""


def run(*args, **extra_env):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1", **extra_env}
    return subprocess.run([sys.executable, "-m", "netspec", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def graph_of(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_graph(str(path))


def test_binarize_is_plus_one_at_zero_and_passes_gradient_where_abs_x_at_most_one(tmp_path):
    graph = graph_of(tmp_path, "name: b\ninput: {shape: [6]}\nlayers: [binarize]\n")
    ops = make_ops("float64")
    executor = Executor(graph, ops, {}, grad_inputs=True)
    x = np.array([[-2.0, -1.0, -0.5, 0.0, 0.5, 1.5]])
    out = executor.forward({"input": x}, train=True)[graph.outputs[0]]
    assert out.tolist() == [[-1, -1, -1, 1, 1, 1]]             # BIN(0) = +1, unlike sign
    executor.backward({graph.outputs[0]: np.full_like(x, 3.0)})
    assert executor.input_gradients["input"].tolist() == [[0, 3, 3, 3, 3, 0]]


@pytest.mark.parametrize("mode", ["true", "xnor"])
def test_binary_weight_gradient_is_straight_through_masked_where_abs_w_above_one(tmp_path, mode):
    graph = graph_of(tmp_path, MLP.replace("BINARY", mode))
    ops = make_ops("float64")
    state = {k: v.astype(np.float64) for k, v in init_state(graph, 0).items()}
    latent = state["linear_3.weight"]
    latent[0, :2] = [1.5, -2.0]                                 # outside [-1, 1]: no gradient (binary: true)
    executor = Executor(graph, ops, state)
    x = np.random.default_rng(1).normal(size=(4, 6))
    executor.forward({"input": x}, train=True)
    g_out = np.random.default_rng(2).normal(size=(4, 3))
    grads = executor.backward({graph.outputs[0]: g_out})
    hidden = np.where(x @ np.where(state["linear_1.weight"] >= 0, 1, -1).T >= 0, 1.0, -1.0)
    g_binary = g_out.T @ hidden                                  # d loss / d BIN(W)
    if mode == "true":
        expected = g_binary * (np.abs(latent) <= 1)
    else:                                                        # alpha * BIN(W), alpha = mean |W| per row
        alpha = np.abs(latent).mean(axis=1, keepdims=True)
        through = (g_binary * np.where(latent >= 0, 1, -1)).mean(axis=1, keepdims=True)
        expected = g_binary * alpha * (np.abs(latent) <= 1) + np.sign(latent) * through
    np.testing.assert_allclose(grads["linear_3.weight"], expected, rtol=1e-12, atol=1e-12)
    if mode == "true":
        assert grads["linear_3.weight"][0, :2].tolist() == [0.0, 0.0]


def test_optimizer_clips_binary_latent_weights_to_plus_minus_one(tmp_path):
    graph = graph_of(tmp_path, MLP.replace("BINARY", "true"))
    assert graph.param_clips() == {"linear_1.weight": (-1.0, 1.0), "linear_3.weight": (-1.0, 1.0)}
    ops = make_ops("float64")
    params = {"linear_1.weight": np.array([[0.9, -0.9, 0.2]]), "linear_3.bias": np.array([0.9])}
    optimizer = Optimizer(ops, read_train({"optimizer": {"type": "sgd", "lr": 1.0}}).optimizer, list(params),
                          {"linear_1.weight": (-1.0, 1.0)})
    optimizer.step(params, {"linear_1.weight": np.array([[-10.0, 10.0, 0.1]]), "linear_3.bias": np.array([-10.0])})
    assert params["linear_1.weight"].tolist() == [[1.0, -1.0, pytest.approx(0.1)]]
    assert params["linear_3.bias"].tolist() == [10.9]          # not a binary weight: not clipped


@pytest.mark.parametrize("backend", ["numpy", "torch", "numba-cuda"])
def test_training_keeps_latent_weights_in_range_and_frozen_layers_fixed(tmp_path, backend):
    if backend == "torch":
        pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    simulator = {"NUMBA_ENABLE_CUDASIM": "1"} if backend == "numba-cuda" else {}      # the CUDA simulator
    spec = tmp_path / "spec.yaml"
    given = np.round(np.random.default_rng(5).normal(size=(5, 5)), 2)
    spec.write_text(MLP.replace("BINARY", "true").replace(
        "  - binarize\n", "  - binarize\n  - {type: linear, units: 5, trainable: false, weights: {weight: "
        f"{given.tolist()}, bias: [0.5, 0, 0, 0, -0.5]}}}}\n"))
    result = run("train", str(spec), "--backend", backend, "--out", str(tmp_path / "run"), "--max-steps", "2",
                 "--quiet", **simulator)
    assert result.returncode == 0, result.stderr
    state = dict(np.load(tmp_path / "run" / "checkpoint.npz"))
    for key in ("linear_1.weight", "linear_4.weight"):
        assert np.abs(state[key]).max() <= 1.0
        assert (np.abs(state[key]) == 1.0).any(), f"{key}: lr 100 should push some weights onto the clip"
    np.testing.assert_array_equal(state["linear_3.weight"], given.astype(np.float32))   # given, then frozen
    np.testing.assert_array_equal(state["linear_3.bias"], np.array([0.5, 0, 0, 0, -0.5], dtype=np.float32))


def test_summary_json_counts_binary_weights_at_one_bit():
    result = run("summary", os.path.join(SPECS, "binary_mlp_digits.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    binary = 64 * 512 + 512 * 512 + 512 * 10
    assert summary["binary_params"] == binary
    assert summary["param_bits"] == binary + 32 * (summary["total_params"] - binary)
    assert summary["param_bytes"] == -(-summary["param_bits"] // 8)
    assert summary["layers"][1]["param_bits"] == 64 * 512


PACKED = """
name: packed
input: {shape: [2, 7, 7]}
layers:
  - {type: conv2d, filters: 8, kernel: 3, padding: 1, binary: true}
  - batchnorm
  - binarize
  - {type: conv2d, filters: 9, kernel: 3, padding: 1, binary: true, activation: relu}
  - {type: conv2d, filters: 4, kernel: 2, stride: 2, binary: true, activation: binarize}
  - flatten
  - {type: linear, units: 70, binary: true}
  - binarize
  - {type: linear, units: 5, binary: true, bias: false}
"""


@pytest.mark.parametrize("spec", ["packed", "binary_mlp_digits"])
def test_packed_inference_equals_float_inference_exactly(tmp_path, spec):
    graph = graph_of(tmp_path, PACKED) if spec == "packed" else load_graph(os.path.join(SPECS, f"{spec}.yaml"))
    state = init_state(graph, 3)
    rng = np.random.default_rng(4)
    for key, value in state.items():                            # trained-looking batchnorm statistics
        if key.endswith(("running_mean", "bias")):
            state[key] = rng.normal(0, 0.5, value.shape)
    packed = Model(graph, make_ops("float32"), state, frozen=True)
    plain = Model(graph, make_ops("float32"), state)
    expected = {"packed": {"conv2d_4", "linear_7", "linear_9"}, "binary_mlp_digits": {"linear_5", "linear_8"}}[spec]
    assert packed.executor.packable == expected                # the first (float-input) layer stays float
    assert not plain.executor.packable
    x = rng.random((37, *graph[graph.inputs[0]].shape)).astype(np.float32)
    np.testing.assert_array_equal(packed.predict(x, batch_size=16), plain.predict(x, batch_size=16))


FOLDS = """
name: folds
input: {shape: [20]}
layers:
  - {type: linear, units: 70, binary: true, bias: false}
  - batchnorm
  - binarize
  - {type: linear, units: 130, binary: true}
  - batchnorm
  - binarize
  - {type: linear, units: 67, binary: true, activation: binarize}
  - {type: linear, units: 65, binary: true, bias: false}
  - batchnorm
  - binarize
  - {type: linear, units: 40, binary: true}
"""


@pytest.mark.filterwarnings("ignore:invalid value encountered")     # negative variance, inf and NaN inputs: both paths
@pytest.mark.filterwarnings("ignore:overflow encountered")
@pytest.mark.parametrize("case", ["signs of gamma", "not finite"])
def test_folded_batchnorm_and_binarize_equal_the_float_path_exactly(tmp_path, case):
    """A packed linear layer -> batchnorm -> binarize folds into popcount ranges whose packed bits equal the float
    path's: gamma > 0, < 0, +0 and -0 (beta of either sign and 0), biases, and means on the products' own even
    integers (batchnorm output exactly 0 there: BIN gives +1). A chain with NaN (negative variance) is not folded.
    The float first layer folds over its float outputs; huge, infinite and NaN inputs take the exact chain."""
    graph = graph_of(tmp_path, FOLDS)
    state = init_state(graph, 7)
    rng = np.random.default_rng(8)
    for name in ("batchnorm_2", "batchnorm_5", "batchnorm_9"):
        channels = len(state[f"{name}.weight"])
        gamma = rng.choice(np.array([1.5, 0.25, -0.75, -2.0, 0.0, -0.0], dtype=np.float32), channels)
        beta = rng.choice(np.array([0.0, -0.0, 0.5, -0.5, 3.0], dtype=np.float32), channels)
        state[f"{name}.weight"], state[f"{name}.bias"] = gamma, np.where(rng.random(channels) < 0.3, 0, beta)
        state[f"{name}.running_mean"] = (2 * rng.integers(-4, 5, channels)).astype(np.float32)
        state[f"{name}.running_var"] = rng.choice(np.array([1.0, 0.3, 7.0], dtype=np.float32), channels)
    state["linear_4.bias"] = np.where(rng.random(130) < 0.5, 0, rng.normal(0, 2, 130)).astype(np.float32)
    if case == "not finite":
        state["batchnorm_5.running_var"][3] = -1.0
    packed = Model(graph, make_ops("float32"), state, frozen=True)
    plain = Model(graph, make_ops("float32"), state)
    assert packed.executor.folds == {"linear_1": ["batchnorm_2", "binarize_3"], "linear_4": ["batchnorm_5", "binarize_6"],
                                     "linear_7": [], "linear_8": ["batchnorm_9", "binarize_10"]}
    x = rng.normal(size=(300, 20)).astype(np.float32)
    x[:40] = np.repeat(x[:20], 2, axis=0) * 1e-3               # near 0: float outputs close to the thresholds
    x[5, 3], x[6, 0], x[7, 2] = 3e38, -np.inf, np.nan         # beyond the float fold's bound: the exact chain
    np.testing.assert_array_equal(packed.predict(x, batch_size=128), plain.predict(x, batch_size=128))
    folded = {head for head, ranges in packed.executor.fold_cache.items() if ranges is not None}
    assert folded == {"linear_1", "linear_4", "linear_7", "linear_8"} - ({"linear_4"} if case == "not finite" else set())
    if case == "signs of gamma":       # every kind of channel occurred: rising, falling, always and never +1
        low, high = packed.executor.fold_cache["linear_4"]
        assert {(lo == 0, hi == 70, lo > hi) for lo, hi in zip(low, high)} >= {
            (True, False, False), (False, True, False), (True, True, False), (False, False, True)}


def test_sequence_rows_are_not_folded_and_equal_the_float_path(tmp_path):
    """A linear layer over [steps, features] keeps its float path between layers (packed rows are samples)."""
    graph = graph_of(tmp_path, "name: seq\ninput: {shape: [4, 20]}\nlayers:\n"
                     "  - {type: linear, units: 70, binary: true, activation: binarize}\n"
                     "  - {type: linear, units: 65, binary: true, activation: binarize}\n"
                     "  - {type: linear, units: 3, binary: true}\n")
    state = init_state(graph, 2)
    packed, plain = Model(graph, make_ops("float32"), state, frozen=True), Model(graph, make_ops("float32"), state)
    assert packed.executor.packable == {"linear_2", "linear_3"} and packed.executor.folds == {}
    x = np.random.default_rng(3).normal(size=(9, 4, 20)).astype(np.float32)
    np.testing.assert_array_equal(packed.predict(x, batch_size=4), plain.predict(x, batch_size=4))


@pytest.mark.parametrize(("rows", "k", "channels"), [(3, 5, 3), (5, 512, 65), (4, 1000, 7), (3, 7680 + 777, 2),
                                                     (7, 4096, 300), (3, 70_000, 3)])
def test_packed_popcount_ranges_equal_the_float_products(rows, k, channels):
    """xnor_threshold_pack's bits (bit-sliced sums over 256-channel tiles) equal the float +-1 products' ranges,
    and xnor_matmul's popcounts the products: inputs mostly +1, mostly -1, all +1 and all -1 (both sides of
    the sum, whole and partial groups of 32 rows), tiles cut short, counts past 2^16, and
    for the popcounts widths below one pair of 256-bit vectors, whole pairs, a word tail and past one call's
    MAX_VECTOR_PAIRS (odd row and channel counts repeat the last one); ranges around the middle, at both ends
    and empty."""
    from backends.numpy.packed import MAX_VECTOR_PAIRS, pack, slice_weights, xnor_matmul, xnor_threshold_pack
    from backends.numpy.split import batch_split
    assert 7680 == 8 * 64 * MAX_VECTOR_PAIRS
    rng = np.random.default_rng(k)
    x = np.where(rng.random((rows, k)) < rng.uniform(0.05, 0.95, (rows, 1)), 1.0, -1.0)
    x[0], x[-1] = 1.0, -1.0
    w = np.where(rng.random((channels, k)) < 0.5, 1.0, -1.0)
    if channels > 3:
        w[2] = x[0]                                          # no position differs: a count of 0
    differ = (k - x @ w.T) / 2                              # positions where x and the weight row differ
    low = rng.integers(0, k // 2 + 1, channels)
    high = low + rng.integers(0, k // 2 + 1, channels)
    low[0], high[-1] = 0, k
    if channels > 3:
        low[1], high[1] = k + 1, -1                          # never +1
        low[2], high[2] = -5, -1                             # never: below every count
    weights = slice_weights(pack(w)[0], k)
    got = xnor_threshold_pack(pack(x)[0], weights, low, high)
    want = np.where((differ >= low) & (differ <= high), 1.0, -1.0)
    np.testing.assert_array_equal(got.signs, pack(want)[0])
    split = batch_split(2)                # rows and then tiles over two threads, as the backend splits them
    threaded = xnor_threshold_pack(pack(x)[0], weights, low, high, lambda fn, n, work: split.run(fn, n))
    np.testing.assert_array_equal(threaded.signs, got.signs)
    assert 0 < (want > 0).sum() < want.size or rows * channels < 10
    products = xnor_matmul(pack(x), pack(w)[0], k, np.empty((rows, channels), dtype=np.int64))
    np.testing.assert_array_equal(products, x @ w.T)                     # the unfolded products too


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "backend", "goal"), [("binary_mlp_digits", "numpy", 0.93),
                                                       ("binary_mlp_digits", "torch", 0.93),
                                                       ("binary_cnn_digits", "numpy", 0.95),
                                                       ("binary_cnn_digits", "torch", 0.95)])
def test_binary_digits_specs_reach_their_accuracy(tmp_path, spec, backend, goal):
    if backend == "torch":
        pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    path = os.path.join(SPECS, f"{spec}.yaml")
    result = run("train", path, "--backend", backend, "--out", str(tmp_path / "run"), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["test_accuracy"] >= goal
    # eval binarises the stored latent weights, bit-packed where a layer reads +-1 inputs: the same accuracy
    evaluated = run("eval", path, "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--json")
    assert json.loads(evaluated.stdout)["test_accuracy"] == pytest.approx(json.loads(result.stdout)["test_accuracy"])


def test_binary_benchmark_runs_and_its_packed_pass_equals_the_float_one():
    """benchmarks/bench_binary.py (small: one 320-wide tile and a cut one, two batch sizes, short rounds) checks the
    packed outputs equal the float ones before it times them, and reports the speed-up and memory (figures are the
    benchmark's to record, not asserted here)."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "bench_binary.py")
    run = subprocess.run([sys.executable, script, "--width", "320", "--rounds", "1", "--seconds", "0.05",
                          "--batches", "1", "7"], check=False, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "| 7 |" in run.stdout and "smaller" in run.stdout
