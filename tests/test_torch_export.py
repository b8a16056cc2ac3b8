"""Generated models under torch.compile and exported to ONNX (checked with ONNX's reference evaluator)."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import SPECS

from backends import checkpoint
from backends.torch import build_model
from netspec import load_graph
from netspec.cli import main

torch.set_num_threads(1)


@pytest.mark.slow        # inductor compiles C++ kernels with gcc: about a minute on 2 busy cores
def test_torch_compile_matches_eager_and_trains():
    graph = load_graph(os.path.join(SPECS, "digits_mlp.yaml"))
    model = build_model(graph).eval()
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(model, fullgraph=True)           # inductor: generated C++ kernels
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)
    # a training step through dynamo + AOT autograd, without graph breaks
    model.train()
    trainer = torch.compile(model, backend="aot_eager", fullgraph=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    y = torch.arange(8) % 10
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(trainer(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_onnx_export_with_dynamic_sequence_length(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from onnx.reference import ReferenceEvaluator
    spec = os.path.join(SPECS, "char_lstm.yaml")
    graph = load_graph(spec)
    model = build_model(graph).eval()
    weights = str(tmp_path / "weights.npz")
    checkpoint.save(weights, {k: v.numpy() for k, v in model.state_dict().items()}, {"epoch": 0})
    out = tmp_path / "char_lstm.onnx"
    assert main(["compile", spec, "--target", "onnx", "-o", str(out), "--checkpoint", weights]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "T"]
    out_dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == ["batch", "T", 52]        # the symbolic T stays dynamic on the output too
    tokens = torch.randint(0, 52, (3, 11), generator=torch.Generator().manual_seed(1))   # T differs from export
    (got,) = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: tokens.numpy()})
    with torch.no_grad():
        want = model(tokens).numpy()
    assert got.shape == (3, 11, 52)
    np.testing.assert_allclose(got, want, atol=1e-4)
