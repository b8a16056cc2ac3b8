"""Perceptrons: the gates of specs/perceptron/ from their given weights through `netspec predict`, the perceptron
learning rule (separates AND/NAND/OR, reports XOR as not linearly separable), and `weights:` checked."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, SPECS

TABLE = os.path.join(SPECS, "perceptron", "truth_table.npy")
GATES = {"and": [0, 0, 0, 1], "nand": [1, 1, 1, 0], "or": [0, 1, 1, 1], "xor": [0, 1, 1, 0]}


def run(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "netspec", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_truth_table_file_lists_the_four_input_pairs():
    assert np.load(TABLE).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize("gate", sorted(GATES))
def test_gate_truth_table_through_predict(gate):
    result = run("predict", os.path.join(SPECS, "perceptron", f"{gate}.yaml"), "--input", TABLE, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == [[v] for v in GATES[gate]]


def test_xor_truth_table_on_the_torch_backend_too():
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    result = run("predict", os.path.join(SPECS, "perceptron", "xor.yaml"), "--input", TABLE, "--backend", "torch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0:", "0", "1:", "1", "2:", "1", "3:", "0"]


@pytest.mark.parametrize("gate", ["and", "nand", "or"])
def test_perceptron_rule_separates_the_linear_gates(tmp_path, gate):
    spec = os.path.join(SPECS, "perceptron", f"{gate}.yaml")
    result = run("train", spec, "--out", str(tmp_path / "run"), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["separated"] is True and summary["misclassified"] == 0 and 0 < summary["epochs"] < 20
    checkpoint = str(tmp_path / "run" / "checkpoint.npz")
    result = run("predict", spec, "--checkpoint", checkpoint, "--input", TABLE, "--json")
    assert json.loads(result.stdout)["outputs"] == [[v] for v in GATES[gate]]


def test_perceptron_rule_reports_xor_not_linearly_separable(tmp_path):
    result = run("train", os.path.join(SPECS, "perceptron", "xor_single.yaml"), "--out", str(tmp_path / "run"),
                 "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["separated"] is False and summary["epochs"] == 50 and summary["misclassified"] >= 1
    assert "not linearly separable" in summary["verdict"]


def test_perceptron_rule_refuses_a_deeper_net(tmp_path):
    with open(os.path.join(SPECS, "perceptron", "xor.yaml")) as handle:
        text = handle.read().replace("  loss: mse", "  method: perceptron\n  loss: mse")
    spec = tmp_path / "deep.yaml"
    spec.write_text(text)
    result = run("train", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "deep.yaml:" in result.stderr and "one linear layer of step or sign units" in result.stderr


def test_weights_that_do_not_fit_the_parameters_are_located(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\ninput: {shape: [2]}\nlayers:\n"
                    "  - {type: linear, units: 1, weights: {weight: [[0.5, 0.5, 1]], bias: [-0.7]}}\n"
                    "  - {type: linear, units: 1, weights: {kernel: [1]}}\n"
                    "  - {type: linear, units: 1, weights: {weight: [[1], [2, 3]]}, trainable: 3}\n")
    result = run("check", str(spec))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{spec}:4:") and "weights 'weight' has shape 1x3 but the layer's weight is 1x2"
               in line and "give 1 row of 2 values" in line for line in lines), lines
    assert any(f"{spec}:5:" in line and "no parameter of that name" in line for line in lines), lines
    assert any(f"{spec}:6:" in line and "rows of equal length" in line for line in lines), lines
    assert any(f"{spec}:6:" in line and "'trainable' must be true or false" in line for line in lines), lines


def test_predict_without_checkpoint_needs_every_weight_given(tmp_path):
    spec = tmp_path / "partial.yaml"
    spec.write_text("name: partial\ninput: {shape: [2]}\nlayers:\n"
                    "  - {type: linear, units: 1, weights: {weight: [[0.5, 0.5]]}}\n")
    result = run("predict", str(spec), "--input", TABLE)
    assert result.returncode == 2
    assert "--checkpoint is needed" in result.stderr and "linear_1.bias" in result.stderr


GATE_BLOCK = """name: gate_block
input: {shape: [2]}
blocks:
  gate:
    params: {w: [[1.0, 1.0]], b: [-1.5]}
    layers:
      - {type: linear, units: 1, weights: {weight: '${w}', bias: '${b}'}, trainable: false}
      - step
layers:
  - {type: gate, name: g, USE}
"""


def test_block_uses_give_their_layers_weights_through_block_params(tmp_path):
    """A gate written once as a block: AND by default, OR from the params of one use (weights: takes ${...})."""
    for use, table in (("b: [-1.5]", GATES["and"]), ("b: [-0.5]", GATES["or"])):
        spec = tmp_path / "gate.yaml"
        spec.write_text(GATE_BLOCK.replace("USE", use))
        result = run("predict", str(spec), "--input", TABLE, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["outputs"] == [[v] for v in table]


@pytest.mark.parametrize("key", ["trainable: false", "weights: {weight: [[1.0, 1.0]]}"])
def test_layer_keys_on_a_block_use_say_where_they_go(tmp_path, key):
    spec = tmp_path / "gate.yaml"
    spec.write_text(GATE_BLOCK.replace("USE", key))
    result = run("check", str(spec))
    name = key.split(":")[0]
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert "gate.yaml:10:" in result.stderr and f"block 'gate' has no param '{name}'" in result.stderr
    assert f"'{name}:' goes on a layer inside block 'gate'" in result.stderr, result.stderr
