"""The generated PyTorch file of a GAN spec trains under torchrun: two CPU processes (gloo) with
DistributedDataParallel end with identical networks, rank 0 writes the files, and --resume continues exactly."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from netspec.cli import main
from tests.gan_specs import TINY_GAN


def _torchrun(model, tmp_path, *args, out="run"):
    torchrun = shutil.which("torchrun")
    command = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    done = subprocess.run([*command, "--standalone", "--nproc_per_node=2", str(model), "--json", "-q", "--out",
                           str(tmp_path / out), *args], cwd=tmp_path, capture_output=True, text=True, check=False,
                          timeout=400, env={**os.environ, "OMP_NUM_THREADS": "1", "NETSPEC_THREADS": "1",
                                            "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    results = sorted((json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")),
                     key=lambda r: r["rank"])
    assert [(r["rank"], r["world_size"]) for r in results] == [(0, 2), (1, 2)]
    return results


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_gan_file_trains_and_resumes_under_torchrun(tmp_path, monkeypatch):
    spec = tmp_path / "tiny_gan.yaml"
    spec.write_text(TINY_GAN)
    model = tmp_path / "model.py"
    assert main(["compile", str(spec), "--target", "torch", "-o", str(model)]) == 0
    first = _torchrun(model, tmp_path, "--epochs", "1")
    resumed = _torchrun(model, tmp_path, "--epochs", "2", "--resume")
    for results in (first, resumed):
        # both networks (parameters, batchnorm statistics) agree across the ranks, and so do the metrics
        assert results[0]["state_sha256"] == results[1]["state_sha256"]
        assert results[0]["final_loss"] == results[1]["final_loss"]
    assert first[0]["state_sha256"] != resumed[0]["state_sha256"] and resumed[0]["epochs"] == 2
    straight = _torchrun(model, tmp_path, "--epochs", "2", out="straight")
    assert straight[0]["state_sha256"] == resumed[0]["state_sha256"]      # resuming is exact under DDP too
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]        # one row per epoch: rank 0 alone writes
    assert rows[-1]["d_loss"] == pytest.approx(resumed[1]["d_loss"])     # rank 1 reports the averaged metrics
    assert sorted(os.listdir(run / "samples")) == ["epoch_0001.png", "epoch_0002.png"]
    # rank 0's checkpoint holds the networks both ranks ended with
    loader = importlib.util.spec_from_file_location("tiny_gan_ddp_model", model)
    module = importlib.util.module_from_spec(loader)
    monkeypatch.setitem(sys.modules, loader.name, module)
    loader.loader.exec_module(module)
    networks = module.build_model()
    module.load_weights(networks, str(run / "checkpoint.npz"))
    assert module.state_digest(networks) == resumed[1]["state_sha256"]
    npy = tmp_path / "s.npy"
    assert main(["sample", str(spec), "--checkpoint", str(run / "checkpoint.npz"), "-o", str(tmp_path / "g.png"),
                 "--count", "6", "--npy", str(npy)]) == 0
    samples = np.load(npy)
    assert samples.shape == (6, 1, 8, 8) and np.isfinite(samples).all()
