"""netspec verify: every spec small enough to run here agrees across backends to 1e-4 (float32)."""
import glob
import json
import os
import subprocess
import sys

import pytest

from netspec import load_graph
from tests.conftest import ROOT, SPECS, each_graph

MAX_PARAMS = 20_000_000
# Train-mode batchnorm at batch 2 through 18+ layers amplifies float32 rounding (the same math agrees to
# ~1e-15 in float64), so these are compared in float64, where a real fault would still show.
FLOAT64_ONLY = {"resnet18", "mobilenet_v2", "efficientnet_b0", "shufflenet_v2"}
# ImageNet-sized specs that take a `size` var run at a small resolution here (same layers and parameters)
QUICK = {"mobilenet_v2": {"size": 32}, "efficientnet_b0": {"size": 32}, "shufflenet_v2": {"size": 64}}


def _specs():
    for path in sorted(glob.glob(os.path.join(SPECS, "*.yaml"))):
        yield pytest.param(path, id=os.path.basename(path)[:-5])


@pytest.mark.parametrize("path", list(_specs()))
def test_backends_agree(path, monkeypatch):
    monkeypatch.setenv("NETSPEC_THREADS", "1")
    pytest.importorskip("torch")
    name = os.path.basename(path)[:-5]
    for _, graph in each_graph(load_graph(path, QUICK.get(name))):
        _backends_agree(graph)


def _backends_agree(graph):
    from backends.verify import verify
    if graph.total_params > MAX_PARAMS:
        pytest.skip(f"{graph.name}: {graph.total_params:,} params is too big to verify on this machine")
    # binarize is a threshold: a float32 rounding difference near 0 flips a +-1 (and everything after it), so
    # binary nets are compared in float64, where the backends agree to ~1e-13
    binary = any(n.op == "binarize" or n.activation == "binarize" for n in graph.layers())
    dtype = "float64" if graph.name in FLOAT64_ONLY or binary else "float32"
    report = verify(graph, batch=2, dtype=dtype)
    compared = {name: row for name, row in report["backends"].items() if "skipped" not in row}
    if "torch" not in compared:
        pytest.skip(f"torch could not run {graph.name}: {report['backends']['torch']['skipped']}")
    assert report["max_difference"] <= 1e-4, json.dumps(report, indent=1)


def test_verify_cli_json():
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "netspec", "verify", os.path.join(SPECS, "digits_cnn.yaml"), "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["reference"] == "numpy"
    assert report["backends"]["torch"]["grad_max_abs"] < 1e-5


def test_fused_activation_attrs_agree_across_backends(tmp_path, monkeypatch):
    """`activation: {type: leaky_relu, slope: 0.2}` on a linear layer: NumPy and the generated PyTorch agree."""
    monkeypatch.setenv("NETSPEC_THREADS", "1")
    pytest.importorskip("torch")
    from backends.verify import verify
    path = tmp_path / "fused.yaml"
    path.write_text("name: fused\ninput: {shape: [6]}\nlayers:\n"
                    "  - {type: linear, units: 8, activation: {type: leaky_relu, slope: 0.2}}\n"
                    "  - {type: linear, units: 3, activation: {type: softmax, axis: 0}}\n")
    report = verify(load_graph(str(path)), batch=4, dtype="float64")
    assert "skipped" not in report["backends"]["torch"], report["backends"]["torch"]
    assert report["max_difference"] <= 1e-10, json.dumps(report, indent=1)
