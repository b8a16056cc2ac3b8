"""The conformance cases (tests/layer_cases.py) through ONNX export: each example's generated PyTorch model
exports with `netspec compile --target onnx`'s exporter, passes the ONNX checker and, run by onnxruntime,
gives the PyTorch model's output (eval mode, float32)."""
from __future__ import annotations

import numpy as np
import pytest
from layer_cases import batch_inputs, cases, float_state, load_case

pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[dev]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[dev]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install -e '.[dev]')")


def _first_examples():
    """One case per layer type (the first example): export costs seconds per model."""
    seen, out = set(), []
    for param in cases():
        type_name = param.values[0]
        if type_name not in seen:
            seen.add(type_name)
            out.append(param)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("type_name", "example"), _first_examples())
def test_onnx_export_runs_and_matches_torch(tmp_path, type_name, example):
    import torch

    from backends.torch import build_model
    from backends.torch.export import export_onnx
    graph = load_case(tmp_path, type_name, example)
    state = float_state(graph, "float32")
    weights = tmp_path / "weights.npz"
    from backends import checkpoint
    checkpoint.save(str(weights), state, {"epoch": 0})
    path = tmp_path / "case.onnx"
    export_onnx(graph, str(path), checkpoint=str(weights))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    inputs = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
              for k, v in batch_inputs(graph, scale=example.get("scale", 1.0)).items()}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = dict(zip([i.name for i in session.get_inputs()], [inputs[name] for name in graph.inputs]))
    (got,) = session.run(None, feed)[:1]
    model = build_model(graph).eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    with torch.no_grad():
        want = model(*[torch.from_numpy(inputs[name]) for name in graph.inputs])
    want = (want[0] if isinstance(want, (tuple, list)) else want).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
