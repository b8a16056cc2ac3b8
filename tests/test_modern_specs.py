"""The spec library's modern architectures (issue 13): published parameter counts, check/summary/draw from the
command line, NumPy and the generated PyTorch model agreeing (`verify`), and a few NumPy training steps."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from netspec import load_graph
from tests.conftest import ROOT, SPECS

PUBLISHED = {"mobilenet_v2.yaml": 3_504_872, "efficientnet_b0.yaml": 5_288_548, "shufflenet_v2.yaml": 2_278_604}
# the small ones are sized here: (spec, --set overrides for a quick run)
MODERN = [("mobilenet_v2.yaml", {"size": 32}), ("efficientnet_b0.yaml", {"size": 32}),
          ("shufflenet_v2.yaml", {"size": 64}), ("unet_digits.yaml", {}), ("transformer_digits.yaml", {}),
          ("convnext_digits.yaml", {})]


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), NETSPEC_THREADS="1")
    return subprocess.run([sys.executable, "-m", "netspec", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def _sets(overrides: dict) -> list:
    return [item for key, value in overrides.items() for item in ("--set", f"{key}={value}")]


@pytest.mark.parametrize(("name", "count"), sorted(PUBLISHED.items()))
def test_published_parameter_counts(name, count):
    assert load_graph(os.path.join(SPECS, name)).total_params == count


@pytest.mark.parametrize(("name", "overrides"), MODERN, ids=[m[0] for m in MODERN])
def test_summary_and_draw(tmp_path, name, overrides):
    spec = os.path.join(SPECS, name)
    done = _cli("summary", spec, "--json", *_sets(overrides))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["total_params"] == load_graph(spec, overrides).total_params
    svg = tmp_path / "net.svg"
    done = _cli("draw", spec, "-o", svg, *_sets(overrides))
    assert done.returncode == 0, done.stderr
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides"), MODERN, ids=[m[0] for m in MODERN])
def test_numpy_matches_generated_torch(name, overrides):
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    done = _cli("verify", os.path.join(SPECS, name), "--json", "--backend", "torch", *_sets(overrides))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    torch_report = report["backends"]["torch"]
    assert "skipped" not in torch_report, torch_report
    assert report["max_difference"] <= 1e-4, report


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides"), MODERN, ids=[m[0] for m in MODERN])
def test_a_few_numpy_training_steps(tmp_path, name, overrides):
    from backends.base import TrainOptions
    from backends.numpy import train
    graph = load_graph(os.path.join(SPECS, name), overrides)
    data = {} if graph.train.get("data", {}).get("name") == "digits" else {
        "name": "synthetic", "classes": graph[graph.outputs[0]].shape[-1], "samples": 16}
    result = train(graph, TrainOptions(str(tmp_path / "run"), epochs=1, batch_size=4, max_steps=3, data=data,
                                       progress=False))
    assert result["final_loss"] == result["final_loss"] and result["final_loss"] < 1e6     # finite
    assert os.path.exists(result["checkpoint"])
