"""netspec train/eval/predict with the NumPy backend: data formats, clear data errors, cross-backend checkpoints."""
import gzip
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SPECS


def run(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "netspec", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def write_idx(path, array, gz):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype.type], array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + (array.astype(array.dtype.newbyteorder(">")).tobytes())
    with (gzip.open if gz else open)(str(path) + (".gz" if gz else ""), "wb") as handle:
        handle.write(data)


def make_mnist(directory, gz):
    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    for split, count in (("train", 96), ("t10k", 32)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = (rng.random((count, 28, 28)) * 60).astype(np.uint8)
        for i, label in enumerate(labels):       # a learnable bright bar per class
            images[i, 2 + 2 * label:4 + 2 * label, 4:24] = 250
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte"), images, gz)
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte"), labels, gz)


@pytest.mark.parametrize("gz", [False, True])
def test_train_lenet5_on_idx_files(tmp_path, gz):
    make_mnist(tmp_path / "mnist", gz)
    proc = run("train", os.path.join(SPECS, "lenet5.yaml"), "--data", str(tmp_path / "mnist"), "--epochs", "2",
               "-o", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("test_accuracy", "final_loss", "epochs", "seconds", "samples_per_second"):
        assert key in result
    assert result["epochs"] == 2 and 0.0 <= result["test_accuracy"] <= 1.0
    assert (tmp_path / "run" / "checkpoint.npz").exists() and (tmp_path / "run" / "training.png").exists()


def test_corrupt_idx_file_is_one_clear_error(tmp_path):
    make_mnist(tmp_path / "mnist", False)
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    proc = run("train", os.path.join(SPECS, "lenet5.yaml"), "--data", str(tmp_path / "mnist"), "-o",
               str(tmp_path / "run"), "--epochs", "1")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "train-images-idx3-ubyte" in proc.stderr


def test_missing_data_directory(tmp_path):
    proc = run("train", os.path.join(SPECS, "lenet5.yaml"), "--data", str(tmp_path / "nowhere"), "-o",
               str(tmp_path / "run"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "nowhere" in proc.stderr


def test_spec_with_two_inputs_refuses_one_input_data(tmp_path):
    text = Path(SPECS, "captioning.yaml").read_text().replace("name: digits_captions", "name: digits")
    (tmp_path / "cap.yaml").write_text(text)
    proc = run("train", str(tmp_path / "cap.yaml"), "--backend", "numpy", "-o", str(tmp_path / "run"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "data 'digits' feeds one input; a spec with inputs image, tokens reads 'digits_captions'" in proc.stderr
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


CHAR_SPEC = """
name: tiny_char
input: {shape: [T], dtype: int64}
layers:
  - {type: embedding, vocab: 6, dim: 8}
  - {type: gru, hidden: 16, return_sequences: true}
  - {type: linear, units: 6}
train:
  optimizer: {type: adam, lr: 0.02}
  epochs: 8
  batch_size: 8
  data: {name: text, path: corpus.txt, seq_len: 12}
"""


def test_text_language_model(tmp_path):
    (tmp_path / "corpus.txt").write_text("abcde\n" * 60)
    (tmp_path / "tiny_char.yaml").write_text(CHAR_SPEC)
    proc = run("train", str(tmp_path / "tiny_char.yaml"), "-o", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["test_accuracy"] > 0.9            # the sequence is fully predictable


def test_eval_and_predict_across_backends(tmp_path):
    spec = os.path.join(SPECS, "digits_cnn.yaml")
    proc = run("train", spec, "--epochs", "2", "-o", str(tmp_path / "run"), "--json")
    assert proc.returncode == 0, proc.stderr
    trained = json.loads(proc.stdout.strip().splitlines()[-1])
    ckpt = str(tmp_path / "run" / "checkpoint.npz")
    numpy_eval = json.loads(run("eval", spec, "--checkpoint", ckpt, "--json").stdout)
    assert numpy_eval["test_accuracy"] == pytest.approx(trained["test_accuracy"])
    pytest.importorskip("torch")
    torch_eval = run("eval", spec, "--checkpoint", ckpt, "--backend", "torch", "--json")
    assert torch_eval.returncode == 0, torch_eval.stderr
    assert json.loads(torch_eval.stdout)["test_accuracy"] == pytest.approx(numpy_eval["test_accuracy"])

    from sklearn.datasets import load_digits
    images = load_digits().images[:7] / 16.0
    np.save(tmp_path / "x.npy", images)
    proc = run("predict", spec, "--checkpoint", ckpt, "--input", str(tmp_path / "x.npy"),
               "--output", str(tmp_path / "out.npz"), "--json")
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as out:
        assert out["output"].shape == (7, 10) and out["prediction"].shape == (7,)
        assert json.loads(proc.stdout)["predictions"] == out["prediction"].tolist()


def test_predict_rejects_wrong_shape(tmp_path):
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    assert run("train", spec, "--epochs", "1", "-o", str(tmp_path / "run"), "-q").returncode == 0
    np.save(tmp_path / "bad.npy", np.zeros((3, 5, 5)))
    proc = run("predict", spec, "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--input",
               str(tmp_path / "bad.npy"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "1x8x8" in proc.stderr


def test_optimizers_and_schedules_match_torch():
    """PyTorch's update rules, weight decay and schedules, step by step on the same gradients."""
    torch = pytest.importorskip("torch")
    from backends.loop import scheduled_lr
    from backends.numpy.ops import NumpyOps
    from backends.runtime.optim import DEFAULT_EPS
    from netspec.config import read_train
    cases = [("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}), ("sgd", {"momentum": 0.5}),
             ("sgd", {}), ("adagrad", {"weight_decay": 0.1}), ("rmsprop", {"momentum": 0.5, "weight_decay": 0.01}),
             ("rmsprop", {}), ("adam", {"weight_decay": 0.01}), ("adamw", {"weight_decay": 0.1})]
    for kind, extra in cases:
        cfg = read_train({"optimizer": {"type": kind, "lr": 0.05, **extra},
                          "schedule": {"type": "cosine", "t_max": 4}}).optimizer
        rng = np.random.default_rng(0)
        start = rng.normal(size=(3, 4))
        grads = [rng.normal(size=(3, 4)) for _ in range(5)]
        param_t = torch.nn.Parameter(torch.tensor(start))
        maker = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
                 "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
        kwargs = {"lr": 0.05, "weight_decay": extra.get("weight_decay", 0.0)}
        if kind in ("sgd", "rmsprop"):
            kwargs.update(momentum=extra.get("momentum", 0.0))
        if kind == "sgd":
            kwargs.update(nesterov=extra.get("nesterov", False))
        opt = maker([param_t], **kwargs)
        ops = NumpyOps("float64")
        param, state = start.copy(), {}
        hp = {"lr": 0.05, "momentum": cfg.momentum, "nesterov": cfg.nesterov, "weight_decay": cfg.weight_decay,
              "betas": cfg.betas, "eps": DEFAULT_EPS[kind], "alpha": cfg.alpha}
        for step, grad in enumerate(grads, start=1):
            param_t.grad = torch.tensor(grad)
            opt.step()
            ops.optimizer_update(kind, param, grad.copy(), state, hp, step)
        np.testing.assert_allclose(param, param_t.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=kind)
    schedule = read_train({"schedule": {"type": "step", "every": 2, "gamma": 0.5}}).schedule
    assert [scheduled_lr(schedule, 1.0, e, 6) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    cosine = read_train({"schedule": {"type": "cosine", "min_lr": 0.1}}).schedule
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=0.1)
    for epoch in range(5):
        assert scheduled_lr(cosine, 1.0, epoch, 5) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12)
        opt.step()
        sched.step()


def _err_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_an_earlier_run_is_refused_without_resume_or_overwrite(tmp_path):
    spec, out = os.path.join(SPECS, "digits_mlp.yaml"), str(tmp_path / "run")
    assert run("train", spec, "--epochs", "1", "-o", out, "-q").returncode == 0
    stamp = os.path.getmtime(tmp_path / "run" / "checkpoint.npz")
    again = run("train", spec, "--epochs", "1", "-o", out, "-q")
    assert again.returncode == 1
    line = _err_line(again)
    assert "already holds a training run" in line and "--resume" in line and "--overwrite" in line
    assert os.path.getmtime(tmp_path / "run" / "checkpoint.npz") == stamp       # nothing touched
    both = run("train", spec, "-o", out, "--resume", "--overwrite")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    fresh = run("train", spec, "--epochs", "2", "-o", out, "--overwrite", "--json")
    assert fresh.returncode == 0, fresh.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]          # a new run, not a continuation


def test_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    proc = run("train", os.path.join(SPECS, "digits_mlp.yaml"), "--epochs", "2", "-o", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    epochs = [line for line in proc.stderr.splitlines() if re.match(r"epoch \d+/2: ", line)]
    assert len(epochs) == 2
    assert re.fullmatch(r"epoch 2/2: train_loss \d\.\d{4}, train_accuracy \d\.\d{4}, test_loss \d\.\d{4}, "
                        r"test_accuracy \d\.\d{4}, lr [\d.e-]+, \d+\.\d\d s, \d+ samples/s", epochs[1]), epochs[1]


def test_threads_flag_and_variable_are_checked(tmp_path):
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    bad = run("train", spec, "--threads", "0", "-o", str(tmp_path / "run"))
    assert bad.returncode == 2 and "--threads" in bad.stderr
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "lots"}
    proc = subprocess.run([sys.executable, "-m", "netspec", "train", spec, "-o", str(tmp_path / "run")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1 and "NETSPEC_THREADS='lots'" in _err_line(proc)
    ok = run("train", spec, "--threads", "1", "--epochs", "1", "-o", str(tmp_path / "run"), "-q")
    assert ok.returncode == 0, ok.stderr
