"""multihead_attention beyond the conformance cases: a tiny causal Transformer-style language model trains on
the NumPy backend and agrees with its generated PyTorch model; attention dropout's gradient in training; a
causal model exported to ONNX runs at a sequence length other than the export example's."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from netspec import load_graph
from tests.conftest import SPECS

TEXT = os.path.join(SPECS, "data", "tiny.txt")       # 52 distinct characters


def _tiny_transformer(tmp_path):
    """Token embedding + learned positions -> causal self-attention -> residual add (-> layernorm where the
    NumPy backend has it) -> position-wise MLP -> next-character logits, T symbolic."""
    from backends.numpy.lower import NUMPY
    norm = "  - {type: layernorm, name: norm}\n" if NUMPY.has("layernorm") else ""
    path = tmp_path / "tiny_transformer.yaml"
    path.write_text(
        "name: tiny_transformer\n"
        "input: {shape: [T], dtype: int64}\n"
        "layers:\n"
        "  - {type: embedding, vocab: 52, dim: 16}\n"
        "  - {type: position_embedding, length: 16, name: embed}\n"
        "  - {type: multihead_attention, heads: 2, causal: true, name: attn}\n"
        "  - {type: add, from: [embed, attn], name: residual}\n"
        f"{norm}"
        "  - {type: linear, units: 32, activation: relu}\n"
        "  - {type: linear, units: 52}\n"
        "train:\n"
        "  loss: cross_entropy\n"
        "  optimizer: {type: adam, lr: 0.01}\n"
        "  epochs: 3\n"
        "  batch_size: 64\n"
        f"  data: {{name: text, path: {TEXT}, seq_len: 16}}\n"
        "  seed: 0\n")
    return load_graph(str(path))


def test_tiny_transformer_trains_on_numpy(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_THREADS", "1")
    import backends.numpy as numpy_backend
    from backends.base import TrainOptions
    graph = _tiny_transformer(tmp_path)
    result = numpy_backend.train(graph, TrainOptions(out_dir=str(tmp_path / "run"), progress=False))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.1, rows
    assert result["final_loss"] < np.log(52) - 0.5, result          # well below a uniform guess


def test_tiny_transformer_agrees_with_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_THREADS", "1")
    pytest.importorskip("torch")
    from backends.runtime.verify import verify
    report = verify(_tiny_transformer(tmp_path), batch=3, dtype="float64")
    assert "skipped" not in report["backends"]["torch"], report["backends"]["torch"]
    assert report["max_difference"] <= 1e-10, json.dumps(report, indent=1)


def test_attention_dropout_gradient_matches_its_mask(tmp_path):
    """In training the attention weights are dropped out; with the same generator the same mask is drawn, so
    finite differences of the dropped-out output check the backward through the mask."""
    from backends.numpy import make_ops
    from backends.runtime.executor import Executor
    from backends.runtime.init import init_state
    path = tmp_path / "drop.yaml"
    path.write_text("name: drop\ninput: {shape: [5, 4]}\nlayers:\n"
                    "  - {type: multihead_attention, heads: 2, dropout: 0.4, causal: true}\n")
    graph = load_graph(str(path))
    state = init_state(graph, 0)
    x = np.random.default_rng(1).normal(size=(2, 5, 4))
    weights = np.random.default_rng(2).normal(size=(2, 5, 4))

    def run(x, backward=False):
        ops = make_ops("float64", np.random.default_rng(7))
        executor = Executor(graph, ops, {k: ops.from_numpy(v) for k, v in state.items()}, grad_inputs=True)
        out = executor.forward({"input": x}, train=True)[graph.outputs[0]]
        if backward:
            executor.backward({graph.outputs[0]: weights})
            return out, executor.input_gradients["input"]
        return out

    out, grad = run(x, backward=True)
    ops = make_ops("float64", np.random.default_rng(0))
    evaluated = Executor(graph, ops, {k: ops.from_numpy(v) for k, v in state.items()}).forward({"input": x})
    assert not np.allclose(out, evaluated[graph.outputs[0]]), "dropout changed nothing in training"
    for index in [(0, 0, 0), (1, 2, 3), (0, 4, 1), (1, 3, 0)]:
        up, down = x.copy(), x.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric = (np.sum(run(up) * weights) - np.sum(run(down) * weights)) / 2e-6
        assert abs(numeric - grad[index]) <= 1e-6 * max(1.0, abs(numeric)), (index, numeric, grad[index])


@pytest.mark.slow
def test_causal_attention_exports_with_a_dynamic_length(tmp_path):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from backends import checkpoint
    from backends.runtime.init import init_state
    from backends.torch import build_model
    from backends.torch.export import export_onnx
    path = tmp_path / "causal.yaml"
    path.write_text("name: causal\ninputs: {x: {shape: [T, 8]}, memory: {shape: [S, 8]}}\nlayers:\n"
                    "  - {type: multihead_attention, heads: 2, causal: true, name: self_attn, from: x}\n"
                    "  - {type: multihead_attention, heads: 4, causal: true, name: cross, from: [self_attn, memory]}\n")
    graph = load_graph(str(path))
    state = init_state(graph, 0)
    checkpoint.save(str(tmp_path / "w.npz"), state, {"epoch": 0})
    export_onnx(graph, str(tmp_path / "causal.onnx"), checkpoint=str(tmp_path / "w.npz"))
    session = ort.InferenceSession(str(tmp_path / "causal.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"x": rng.normal(size=(2, 9, 8)).astype(np.float32), "memory": rng.normal(size=(2, 6, 8)).astype(np.float32)}
    (got,) = session.run(None, feed)
    model = build_model(graph).eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    with torch.no_grad():
        want = model(torch.from_numpy(feed["x"]), torch.from_numpy(feed["memory"])).numpy()
    assert got.shape == (2, 9, 8)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
