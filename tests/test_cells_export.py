"""Cells through ONNX: over a symbolic length a cell exports as an ONNX `Scan` that runs in onnxruntime at any
length; over a fixed length its steps unroll. Either way the result matches the generated PyTorch model."""
from __future__ import annotations

import collections
import os

import numpy as np
import pytest
import yaml
from layer_cases import float_state

from netspec.api import load_graph

pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[dev]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[dev]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install -e '.[dev]')")

CELLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "cells")


def _blocks(*kinds) -> dict:
    blocks = {}
    for kind in kinds:
        with open(os.path.join(CELLS, f"{kind}.yaml")) as handle:
            blocks.update(yaml.safe_load(handle)["blocks"])
    return blocks


def _graph(tmp_path, length, layers):
    """A spec over a `length x 3` sequence (length: 'T' or a number) with the LSTM and GRU cells."""
    spec = {"name": "cells_onnx", "input": {"shape": [length, 3]}, "blocks": _blocks("lstm", "gru"),
            "layers": layers}
    path = os.path.join(str(tmp_path), "cells_onnx.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(spec, handle, sort_keys=False)
    return load_graph(path)


LAYERS = [
    {"type": "lstm_cell", "name": "seq", "hidden": 5, "return_sequences": True},
    {"type": "gru_cell", "name": "bi", "hidden": 4, "bidirectional": True, "return_sequences": True},
    {"type": "gru_cell", "name": "back", "hidden": 4, "reverse": True},
    {"type": "gru_cell", "name": "seeded", "hidden": 4, "from": "input", "initial_state": {"h": "back"}},
    {"type": "linear", "name": "out", "units": 3},
]


def _export(tmp_path, graph):
    """(onnxruntime session, op-type counts, the generated PyTorch model) with the same random weights."""
    import torch

    from backends import checkpoint
    from backends.torch import build_model
    from backends.torch.export import export_onnx
    state = float_state(graph, "float32", seed=2)
    weights = os.path.join(str(tmp_path), "weights.npz")
    checkpoint.save(weights, state, {"epoch": 0})
    path = os.path.join(str(tmp_path), "cells.onnx")
    export_onnx(graph, path, checkpoint=weights)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    model = build_model(graph).eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    ops = collections.Counter(node.op_type for node in proto.graph.node)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]), ops, model


def _assert_matches(session, model, x):
    import torch
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_symbolic_length_exports_as_scan(tmp_path):
    graph = _graph(tmp_path, "T", LAYERS)
    session, ops, model = _export(tmp_path, graph)
    assert ops["Scan"] == 5, ops          # seq, bi (two directions), back, seeded
    assert session.get_inputs()[0].shape == ["batch", "T", 3]
    rng = np.random.default_rng(0)
    for length in (1, 4, 9):              # the example exported at length 3; every length runs
        _assert_matches(session, model, rng.standard_normal((2, length, 3)).astype(np.float32))


@pytest.mark.slow
def test_a_fixed_length_unrolls_and_takes_an_initial_state(tmp_path):
    layers = [{"type": "flatten", "name": "flat", "from": "input"},
              {"type": "linear", "name": "h0", "units": 4, "activation": "tanh"},
              {"type": "gru_cell", "name": "rnn", "hidden": 4, "from": "input", "initial_state": {"h": "h0"},
               "bidirectional": True},
              {"type": "linear", "name": "out", "units": 3}]
    graph = _graph(tmp_path, 6, layers)
    session, ops, model = _export(tmp_path, graph)
    assert ops["Scan"] == 0 and ops["Loop"] == 0, ops
    assert ops["Gemm"] >= 2 * 6 * 3, ops  # three gate products per step, each direction, every step unrolled
    _assert_matches(session, model, np.random.default_rng(1).standard_normal((3, 6, 3)).astype(np.float32))
