"""The NumPy LSTM against PyTorch where it reads graph data directly (its input gradient is skipped then):
outputs and every parameter gradient through `verify`, to a relative 1e-5 in float32 (observed: ~1e-7;
the suite-wide absolute 1e-4 would let a 1% error in a small gradient through)."""
import json
import os

import pytest

from netspec import load_graph
from tests.conftest import ROOT

SPECS = {
    "bidirectional_two_layers": """name: lstm_bi2
input: {shape: [5, 4]}
layers:
  - {type: lstm, hidden: 6, layers: 2, bidirectional: true}
  - {type: linear, units: 3}
train: {loss: cross_entropy}
""",
    "sequences_bias_free": """name: lstm_seq
input: {shape: [4, 3]}
layers:
  - {type: lstm, hidden: 5, bias: false, return_sequences: true}
  - flatten
  - {type: linear, units: 2}
train: {loss: cross_entropy}
""",
}


def _check(report):
    torch_row = report["backends"]["torch"]
    assert "skipped" not in torch_row, json.dumps(report, indent=1)
    assert torch_row["output_max_rel"] <= 1e-5, json.dumps(report, indent=1)
    assert torch_row["grad_max_rel"] <= 1e-5, json.dumps(report, indent=1)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_lstm_first_layer_agrees_with_torch(tmp_path, monkeypatch, name):
    pytest.importorskip("torch")
    monkeypatch.setenv("NETSPEC_THREADS", "1")
    from backends.verify import verify
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPECS[name])
    _check(verify(load_graph(str(path)), batch=3, dtype="float32"))


def test_benchmark_lstm_agrees_with_torch(monkeypatch):
    """The benchmark's LSTM (64 -> 256 over 35 steps): the shapes the fast paths were tuned on."""
    pytest.importorskip("torch")
    monkeypatch.setenv("NETSPEC_THREADS", "1")
    from backends.verify import verify
    _check(verify(load_graph(os.path.join(ROOT, "benchmarks", "specs", "lstm_64_256_t35.yaml")), batch=2,
                  dtype="float32"))
