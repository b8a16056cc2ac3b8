"""The NumPy backend trains the digits specs to the accuracy targets, and resumes a killed run exactly."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from backends import checkpoint
from backends.base import TrainOptions
from netspec import load_graph
from tests.conftest import ROOT, SPECS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("NETSPEC_THREADS", "1")


def _train(spec, tmp_path, **overrides):
    import backends.numpy as numpy_backend
    graph = load_graph(os.path.join(SPECS, spec))
    return numpy_backend.train(graph, TrainOptions(out_dir=str(tmp_path), progress=False, **overrides))


@pytest.mark.parametrize("spec,epochs,target", [("digits_mlp.yaml", 30, 0.97), ("digits_cnn.yaml", 20, 0.98),
                                                ("digits_gru.yaml", 20, 0.95)])
def test_digits_accuracy(spec, epochs, target, tmp_path):
    result = _train(spec, tmp_path, epochs=epochs)
    assert result["test_accuracy"] >= target, result
    assert result["epochs"] == epochs
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    png = (tmp_path / "training.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    state, extra, meta = checkpoint.load(result["checkpoint"])
    checkpoint.check_layout(load_graph(os.path.join(SPECS, spec)), state, result["checkpoint"])
    assert meta["epoch"] == epochs and any(k.startswith("__opt__/") for k in extra)


def test_float64_run(tmp_path):
    result = _train("digits_mlp.yaml", tmp_path, epochs=1, dtype="float64")
    state, _, meta = checkpoint.load(result["checkpoint"])
    assert meta["dtype"] == "float64" and state["linear_2.weight"].dtype == np.float64


def _cli(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "netspec", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    spec = os.path.join(SPECS, "digits_cnn.yaml")
    common = ["--epochs", "6"]
    straight = _cli("train", spec, "-o", str(tmp_path / "straight"), "--json", *common)
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    full = json.loads(out.strip().splitlines()[-1])

    killed_dir = tmp_path / "killed"
    proc = _cli("train", spec, "-o", str(killed_dir), "-q", *common)
    metrics = killed_dir / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(metrics.read_text().splitlines())
    assert done >= 1
    resumed = _cli("train", spec, "-o", str(killed_dir), "--resume", "--json", *common)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["epochs"] == 6
    a, _, _ = checkpoint.load(full["checkpoint"])
    b, _, _ = checkpoint.load(result["checkpoint"])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert result["test_accuracy"] == full["test_accuracy"]


BATCHNORM_SPEC = """netspec: 1
name: digits_bn
input: {shape: [1, 8, 8]}
layers:
  - {type: conv2d, filters: 4, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - flatten
  - {type: linear, units: 10}
train: {loss: cross_entropy, optimizer: {type: sgd, lr: 0.05}, epochs: 1, batch_size: 128, data: {name: digits}}
"""


def test_batchnorm_counter_stays_0d_through_checkpoint(tmp_path):
    """num_batches_tracked is 0-d in state_layout(); NumpyOps.from_numpy and the checkpoint must keep it so."""
    import backends.numpy as numpy_backend
    from backends.runtime import Model, init_state
    spec = tmp_path / "bn.yaml"
    spec.write_text(BATCHNORM_SPEC)
    graph = load_graph(str(spec))
    key = next(k for k in graph.state_layout() if k.endswith("num_batches_tracked"))
    assert tuple(graph.state_layout()[key][0]) == ()
    ops = numpy_backend.make_ops()
    assert ops.from_numpy(np.zeros((), dtype=np.int64)).shape == ()
    model = Model(graph, ops, init_state(graph, 0))
    model.train_step(np.zeros((4, 1, 8, 8), dtype=np.float32), np.arange(4))
    assert model.state_numpy()[key].shape == () and int(model.state_numpy()[key]) == 1
    result = numpy_backend.train(graph, TrainOptions(out_dir=str(tmp_path / "run"), progress=False))
    state, _, _ = checkpoint.load(result["checkpoint"])
    checkpoint.check_layout(graph, state, result["checkpoint"])
    assert state[key].shape == () and int(state[key]) > 1


def interrupt_after_checkpoint(command: list, run_dir, cwd=ROOT, env=None) -> tuple:
    """Start `command`, send SIGINT (Ctrl-C) once metrics.jsonl has two rows (epoch 1's checkpoint is written);
    return (exit code, stderr, epoch named, resume command named)."""
    env = env or {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics, deadline = run_dir / "metrics.jsonl", time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    match = re.search(r"interrupted; the last checkpoint is epoch (\d+) \((.+)\); continue with: (.+)$", err.strip())
    assert match, err[-2000:]
    assert match.group(2) == str(run_dir / "checkpoint.npz")
    return proc.returncode, err, int(match.group(1)), shlex.split(match.group(3))


def test_ctrl_c_names_the_last_checkpoint_and_the_resume_command(tmp_path):
    spec, out = os.path.join(SPECS, "digits_cnn.yaml"), tmp_path / "run"
    code, _, epoch, again = interrupt_after_checkpoint(
        [sys.executable, "-m", "netspec", "train", spec, "--epochs", "4", "-o", str(out)], out)
    assert code == 130
    _, _, meta = checkpoint.load(str(out / "checkpoint.npz"))
    assert 1 <= epoch == meta["epoch"] < 4
    assert again == ["python", "-m", "netspec", "train", spec, "--epochs", "4", "-o", str(out), "--resume"]
    resumed = _cli(*again[3:])
    stdout, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming from epoch {epoch} " in err and "epochs=4," in stdout
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


TINY_CONV = """netspec: 1
name: tiny_conv
input: {shape: [1, 8, 8]}
layers:
  - {type: conv2d, filters: 2, kernel: 3, activation: relu}
  - {type: maxpool2d, kernel: 2}
  - flatten
  - {type: linear, units: 10}
train: {optimizer: adam, epochs: 1, batch_size: 64, data: {name: digits, samples: 128}}
"""


@pytest.mark.slow
def test_kernels_compile_once_and_say_so(tmp_path):
    """A first run (empty kernel cache) says it compiles; the second loads the cached kernels and says nothing."""
    spec = tmp_path / "tiny_conv.yaml"
    spec.write_text(TINY_CONV)
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    errs = []
    for run in ("first", "second"):
        done = subprocess.run([sys.executable, "-m", "netspec", "train", str(spec), "-o", str(tmp_path / run)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        errs.append(done.stderr)
    assert errs[0].count("compiling kernels (first run only)") == 1
    assert "compiling" not in errs[1]
    assert any(name.endswith(".nbi") for _, _, names in os.walk(tmp_path / "cache") for name in names)
