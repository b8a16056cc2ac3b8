"""The generated script runs unchanged under torchrun with DistributedDataParallel (two CPU processes, gloo)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from conftest import SPECS

from backends.torch import generate, load_module
from netspec import load_graph


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_two_processes_end_with_identical_weights(tmp_path):
    graph = load_graph(os.path.join(SPECS, "digits_mlp.yaml"))
    script = tmp_path / "model.py"
    script.write_text(generate(graph, format_code=False))
    torchrun = shutil.which("torchrun")
    command = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    command += ["--standalone", "--nproc_per_node=2", str(script), "--epochs", "2", "--json", "-q",
                "--out", str(tmp_path / "run")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=400,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world_size"] == 2 and r["epochs"] == 2 for r in results)
    assert results[0]["state_sha256"] == results[1]["state_sha256"]
    # rank 0's checkpoint holds those same weights
    module = load_module(graph)
    model = module.build_model()
    module.load_weights(model, str(tmp_path / "run" / "checkpoint.npz"))
    assert module.state_digest(model) == results[0]["state_sha256"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]       # written once, by rank 0
    assert rows[-1]["test_accuracy"] > 0.5
