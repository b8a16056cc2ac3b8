"""Pretraining resumes after an interruption: same weights as an uninterrupted run (DBN with PCD and sparsity,
DBM with joint training), and `netspec train --resume` after a SIGKILL during pretraining continues it."""
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from backends import checkpoint
from backends.energy import pretrain
from backends.energy.resume import STATE_FILE
from netspec import load_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DBN = """
name: resume_dbn
input: {shape: [64]}
layers:
  - {type: rbm, hidden: 24, method: pcd, chains: 16}
  - {type: rbm, hidden: 12, propagate: sample, sparsity: 0.1, sparsity_cost: 0.01}
  - {type: linear, units: 10}
pretrain: {method: cd, epochs: 3, lr: 0.05, batch_size: 32, momentum: [0.5, 0.9], momentum_switch: 1}
train: {epochs: 1, batch_size: 64, data: {name: digits, samples: 200}}
"""
DBM = """
name: resume_dbm
input: {shape: [64]}
layers:
  - {type: rbm, hidden: 16}
  - {type: rbm, hidden: 8}
  - {type: linear, units: 10}
pretrain: {method: dbm, epochs: 2, lr: 0.05, batch_size: 32, joint_epochs: 3, mean_field_steps: 2, chains: 16}
train: {epochs: 1, batch_size: 64, data: {name: digits, samples: 200}}
"""


def _rows(out_dir):
    return [json.loads(line) for line in (out_dir / "pretrain.jsonl").read_text().splitlines() if line]


class Interrupted(Exception):
    pass


def _dataset(count=200, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((count, 64)) < 0.3).astype(np.float32)
    return SimpleNamespace(x_train=x, x_test=x[:40])


def _run(graph, out_dir, resume=False, stop_after=None):
    """Pretrain; with stop_after=n, raise when the n-th monitor row is logged (that epoch is not yet saved)."""
    seen = []

    def log(message):
        if message.startswith("pretrain ") and stop_after is not None:
            seen.append(message)
            if len(seen) == stop_after:
                raise Interrupted(message)

    options = SimpleNamespace(out_dir=str(out_dir), resume=resume, dtype="float32")
    return pretrain(graph, _dataset(), {}, options, log)


@pytest.mark.parametrize("spec, stops", [(DBN, (2, 5)), (DBM, (3, 4))])
def test_resumed_pretraining_equals_an_uninterrupted_run(tmp_path, spec, stops):
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    graph = load_graph(str(path))
    whole = _run(graph, tmp_path / "whole")
    out = tmp_path / "cut"
    for stop in stops:                      # interrupted twice: mid first layer, then in a later stage
        with pytest.raises(Interrupted):
            _run(graph, out, resume=True, stop_after=stop)
        assert os.path.exists(out / STATE_FILE)
    resumed = _run(graph, out, resume=True)
    assert sorted(resumed) == sorted(whole)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    assert _rows(out) == _rows(tmp_path / "whole")


def test_without_resume_pretraining_starts_again(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(DBN)
    graph = load_graph(str(path))
    with pytest.raises(Interrupted):
        _run(graph, tmp_path, stop_after=4)
    _, _, meta = checkpoint.load(str(tmp_path / STATE_FILE))
    assert len(meta["finished_rng"]) == 1 and meta["current"] is None      # cut in layer 2's first epoch
    state = _run(graph, tmp_path)          # no --resume: from scratch, same result as a clean run
    clean = _run(graph, tmp_path / "clean")
    np.testing.assert_array_equal(state["rbm_1.weight"], clean["rbm_1.weight"])


def test_netspec_train_resume_after_sigkill_during_pretraining(tmp_path):
    spec = tmp_path / "dbn.yaml"
    spec.write_text(DBN.replace("epochs: 3, lr", "epochs: 150, lr").replace("samples: 200", "samples: 300"))
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "netspec", "train", str(spec), "--backend", "numpy", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state_file = out / STATE_FILE
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists():
            _, _, meta = checkpoint.load(str(state_file))
            if meta["current"] and meta["current"]["epoch"] >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, _, meta = checkpoint.load(str(state_file))
    where = f"after epoch {meta['current']['epoch']}" if meta["current"] else f"layer {len(meta['finished_rng']) + 1}"
    assert not (out / "checkpoint.npz").exists()
    done = subprocess.run(cmd + ["--resume"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming pretraining" in done.stderr and where in done.stderr
    assert len(_rows(out)) == 300                 # both layers' 150 epochs, each recorded once
    assert (out / "checkpoint.npz").exists() and (out / "pretrained.npz").exists()
