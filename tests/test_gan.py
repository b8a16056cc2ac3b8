"""Several networks in one spec (`networks:`) and GAN training: check, summary, draw, the NumPy and generated
PyTorch trainers, exact resume after a kill, and `netspec sample` for a generator."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from backends import checkpoint
from netspec import load_graph
from netspec.cli import main
from tests.conftest import ROOT, SPECS
from tests.gan_specs import TINY_GAN

DCGAN = os.path.join(SPECS, "dcgan_digits.yaml")
with open(DCGAN, encoding="utf-8") as _handle:
    DCGAN_TEXT = _handle.read()


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("NETSPEC_THREADS", "1")


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny_gan.yaml"
    path.write_text(TINY_GAN)
    return str(path)


def _cli(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "netspec", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_each_network_is_its_own_graph_with_shared_vars():
    networks = load_graph(DCGAN, {"z": 16})
    generator, discriminator = networks.graphs["generator"], networks.graphs["discriminator"]
    assert generator[generator.inputs[0]].shape == (16,)
    assert tuple(generator[generator.outputs[0]].shape) == (1, 8, 8) == tuple(discriminator["input"].shape)
    layout = networks.state_layout()
    assert "generator.linear_1.weight" in layout and "discriminator.conv2d_1.weight" in layout
    assert networks.total_params == generator.total_params + discriminator.total_params


def test_check_summary_and_json(capsys):
    assert main(["check", DCGAN]) == 0
    assert "412,930 params" in capsys.readouterr().out
    assert main(["summary", DCGAN]) == 0
    out = capsys.readouterr().out
    assert "network 'generator'" in out and "network 'discriminator'" in out and "conv_transpose2d" in out
    assert main(["summary", DCGAN, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output_shape"] == [1, 8, 8] and summary["total_params"] == 412930
    assert summary["layers"][0]["name"] == "generator.linear_1" and set(summary["networks"]) == {"generator",
                                                                                                 "discriminator"}


def test_mismatch_is_one_located_message_naming_both_networks(tmp_path, capsys):
    text = DCGAN_TEXT.replace("filters: 1, kernel: 4", "filters: 3, kernel: 4")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["check", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    line = text.splitlines().index("  discriminator:") + 2           # the discriminator's input line
    assert lines[0].startswith(f"{path}:{line}:") and "'generator'" in lines[0] and "'discriminator'" in lines[0]
    assert "3x8x8" in lines[0] and "1x8x8" in lines[0]


@pytest.mark.parametrize("edit,found", [
    ("discriminator: discriminator\n  latent", "train.discriminator: there is no network 'critic'"),
    ("  batch_size: 64", "unknown key 'batch_sizes'"),
    ("    layers:\n      - {type: conv2d", "unknown key 'layer' in network 'discriminator'"),
])
def test_faults_in_a_gan_spec(tmp_path, capsys, edit, found):
    text = DCGAN_TEXT
    assert edit in text
    bad = {"discriminator: discriminator\n  latent": "discriminator: critic\n  latent",
           "  batch_size: 64": "  batch_sizes: 64",
           "    layers:\n      - {type: conv2d": "    layer:\n      - {type: conv2d"}[edit]
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(edit, bad))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert found in err and str(path) + ":" in err and "Traceback" not in err


def test_networks_without_training_check_and_draw(tmp_path, capsys):
    text = DCGAN_TEXT.rsplit("\ntrain:", 1)[0] + "\n"
    path = tmp_path / "two.yaml"
    path.write_text(text)
    assert main(["check", str(path)]) == 0
    assert main(["draw", str(path), "-o", str(tmp_path / "two.dot")]) == 0
    dot = (tmp_path / "two.dot").read_text()
    assert "cluster_generator" in dot and "dashed" not in dot
    assert main(["train", str(path), "-o", str(tmp_path / "run")]) == 1
    assert "no 'train: {method: gan}'" in capsys.readouterr().err


def test_draw_has_clusters_and_dashed_training_wiring(tmp_path):
    assert main(["draw", DCGAN, "-o", str(tmp_path / "gan.dot")]) == 0
    dot = (tmp_path / "gan.dot").read_text()
    assert "cluster_generator" in dot and "cluster_discriminator" in dot
    wiring = [line for line in dot.splitlines() if "->" in line and "dashed" in line]
    assert any('"noise (normal)" -> "generator/input"' in line for line in wiring)
    assert any('"generator/conv_transpose2d_6 (output)" -> "discriminator/input"' in line for line in wiring)
    assert any('"data (digits)" -> "discriminator/input"' in line for line in wiring)
    assert len(wiring) == 3


def test_numpy_training_writes_metrics_grids_and_both_networks(tiny, tmp_path):
    out = tmp_path / "run"
    assert main(["train", tiny, "-o", str(out), "-q", "--json"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(row)
        assert 0 < row["d_real"] < 1 and 0 < row["d_fake"] < 1 and row["d_loss"] > 0 and row["g_loss"] > 0
    for name in ("samples.png", "samples/epoch_0001.png", "samples/epoch_0002.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state, extra, meta = checkpoint.load(str(out / "checkpoint.npz"))
    assert meta["epoch"] == 2 and meta["method"] == "gan" and "rng" in meta
    assert "generator.conv_transpose2d_3.weight" in state and "discriminator.linear_3.weight" in state
    assert "__opt__/generator.linear_1.weight/exp_avg" in extra                          # adam for G
    assert "__opt__/discriminator.linear_3.weight/momentum_buffer" in extra              # sgd for D


def _kill_after_epochs(args, metrics, epochs: int):
    proc = _cli(*args)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= epochs:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(metrics.read_text().splitlines())


def test_numpy_resume_after_kill_is_bit_identical(tiny, tmp_path):
    common = ["--epochs", "6", "--set", "z=8"]
    straight = _cli("train", tiny, "-o", str(tmp_path / "straight"), "--json", *common)
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    full = json.loads(out.strip().splitlines()[-1])
    killed = tmp_path / "killed"
    done = _kill_after_epochs(["train", tiny, "-o", str(killed), "-q", *common], killed / "metrics.jsonl", 2)
    assert done >= 1
    again = _cli("train", tiny, "-o", str(killed), "--resume", "--json", *common)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    a, a_extra, _ = checkpoint.load(full["checkpoint"])
    b, b_extra, _ = checkpoint.load(result["checkpoint"])
    for key in [*a, *a_extra]:
        np.testing.assert_array_equal({**a, **a_extra}[key], {**b, **b_extra}[key], err_msg=key)
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]


def test_generated_torch_file_trains_resumes_and_samples(tiny, tmp_path):
    pytest.importorskip("torch")
    model = tmp_path / "model.py"
    assert main(["compile", tiny, "--target", "torch", "-o", str(model)]) == 0
    source = model.read_text()
    assert "def build_model() -> nn.ModuleDict" in source and "\nGAN = " in source
    env = {**os.environ, "NETSPEC_THREADS": "1", "PYTHONPATH": ""}
    run = lambda *args: subprocess.run([sys.executable, str(model), *args], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=300, check=False)
    straight = run("--epochs", "3", "--out", "straight", "--json")
    assert straight.returncode == 0, straight.stderr
    first = run("--epochs", "1", "--out", "parts", "-q")
    assert first.returncode == 0, first.stderr
    resumed = run("--epochs", "3", "--out", "parts", "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    a, b = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (straight, resumed))
    assert a["state_sha256"] == b["state_sha256"] and a["backend"] == "torch"
    rows = [json.loads(line) for line in (tmp_path / "parts" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all("d_fake" in r for r in rows)
    # the file's checkpoint has netspec's keys: netspec samples from it with the NumPy runtime
    grid, npy = tmp_path / "grid.png", tmp_path / "s.npy"
    ckpt = str(tmp_path / a["checkpoint"])
    assert main(["sample", tiny, "--checkpoint", ckpt, "-o", str(grid), "--count", "10", "--npy",
                 str(npy), "--seed", "4"]) == 0
    samples = np.load(npy)
    assert samples.shape == (10, 1, 8, 8) and samples.min() >= -1 and samples.max() <= 1
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sample", tiny, "--checkpoint", ckpt, "-o", str(grid), "--count", "10", "--npy",
                 str(tmp_path / "t.npy"), "--seed", "4"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), samples)       # the same seed, the same samples


def test_netspec_train_backend_torch_and_sample_usage(tiny, tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    assert main(["train", tiny, "--backend", "torch", "-o", str(out), "--epochs", "1", "-q", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["backend"] == "torch" and os.path.exists(result["samples"])
    assert main(["sample", tiny, "--checkpoint", result["checkpoint"], "-o", str(tmp_path / "g.png"), "--npy",
                 str(tmp_path / "x.txt")]) == 2
    assert main(["sample", tiny, "--checkpoint", str(tmp_path / "none.npz"), "-o", str(tmp_path / "g.png")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["compile", tiny, "--target", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1


def test_verify_checks_each_network_and_eval_refuses_several(tiny, tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["verify", tiny, "--json", "--backend", "torch"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] and set(report["networks"]) == {"generator", "discriminator"}
    assert report["networks"]["generator"]["backends"]["torch"]["output_max_abs"] < 1e-4
    assert main(["eval", tiny, "--checkpoint", str(tmp_path / "c.npz")]) == 1
    assert "has 2 networks (generator, discriminator); eval runs one network" in capsys.readouterr().err
