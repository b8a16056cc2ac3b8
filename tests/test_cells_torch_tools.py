"""A generated model with a cell layer (specs/cells/lstm.yaml, its loop over time in forward) works with PyTorch's
tools: torch.compile (inductor, no graph breaks) gives eager's outputs and gradients, and the generated script
trains under torchrun with DistributedDataParallel."""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from backends.torch import generate, load_module
from netspec import load_graph

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "cells", "lstm.yaml")


@pytest.mark.slow        # inductor compiles C++ kernels with gcc: about a minute on 2 busy cores
def test_torch_compile_forward_and_backward_match_eager():
    torch.set_num_threads(1)
    module = load_module(load_graph(SPEC))
    torch.manual_seed(0)
    eager = module.build_model().train()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, fullgraph=True)     # fullgraph: the loop over time traces whole
    x = torch.randn(16, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(16) % 10
    results = []
    for model, call in ((eager, eager), (compiled_model, compiled)):
        loss = torch.nn.functional.cross_entropy(call(x), y)
        loss.backward()
        results.append((loss.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (loss, grads), (c_loss, c_grads) = results
    torch.testing.assert_close(c_loss, loss, rtol=1e-5, atol=1e-6)
    assert set(c_grads) == set(grads) and any(k.startswith("lstm_cell_1.") for k in grads), sorted(grads)
    for key, grad in grads.items():
        assert grad is not None and grad.abs().sum() > 0, key
        torch.testing.assert_close(c_grads[key], grad, rtol=1e-4, atol=1e-6, msg=f"gradient of {key}")


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_the_generated_script_trains_a_step_under_torchrun(tmp_path):
    """Two processes (so DistributedDataParallel really wraps the model: with one, the script runs it bare)."""
    graph = load_graph(SPEC)
    script = tmp_path / "model.py"
    script.write_text(generate(graph, format_code=False))
    torchrun = shutil.which("torchrun")
    command = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    command += ["--standalone", "--nproc_per_node=2", str(script), "--epochs", "1", "--max-steps", "1", "--json",
                "-q", "--out", str(tmp_path / "run")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=400,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in results) == [0, 1] and all(r["world_size"] == 2 for r in results)
    assert results[0]["state_sha256"] == results[1]["state_sha256"]      # the step's gradients were all-reduced
    assert all(r["final_loss"] == r["final_loss"] and r["final_loss"] < 10 for r in results), results
    module = load_module(graph)
    trained = module.build_model()
    module.load_weights(trained, str(tmp_path / "run" / "checkpoint.npz"))      # rank 0's checkpoint
    assert module.state_digest(trained) == results[0]["state_sha256"]
    assert "lstm_cell_1.i.weight" in trained.state_dict()
