"""Training with generated PyTorch code: accuracy, language-model loss, resume, decoding, clear errors."""
import collections
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, SPECS

from backends import checkpoint
from backends.torch import generate, load_module, sample_text
from netspec import load_graph
from netspec.cli import main

torch.set_num_threads(1)


def _rows(path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _train_json(capsys, *argv) -> dict:
    assert main(["train", *argv, "--backend", "torch", "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_digits_cnn_reaches_97_percent(tmp_path, capsys):
    spec = os.path.join(SPECS, "digits_cnn.yaml")
    result = _train_json(capsys, spec, "-o", str(tmp_path), "--seed", "0")
    for key in ("test_accuracy", "final_loss", "epochs", "seconds", "samples_per_second"):
        assert key in result
    assert result["epochs"] == 30
    assert result["test_accuracy"] >= 0.97, result
    rows = _rows(tmp_path / "metrics.jsonl")
    assert [row["epoch"] for row in rows] == list(range(1, 31))
    # the checkpoint fits the IR layout, so every backend can load it
    state, extra, meta = checkpoint.load(str(tmp_path / "checkpoint.npz"))
    checkpoint.check_layout(load_graph(spec), state, "checkpoint.npz")
    assert meta["epoch"] == 30 and meta["backend"] == "torch"
    assert any(key.startswith("__opt__/") and key.endswith("/exp_avg") for key in extra)


def test_char_lstm_beats_unigram_entropy_and_decodes(tmp_path, capsys):
    spec = os.path.join(SPECS, "char_lstm.yaml")
    graph = load_graph(spec)
    with open(os.path.join(SPECS, "data", "tiny.txt"), encoding="utf-8") as handle:
        text = handle.read()
    counts = collections.Counter(text)
    entropy = -sum(c / len(text) * math.log(c / len(text)) for c in counts.values())     # nats per character
    result = _train_json(capsys, spec, "-o", str(tmp_path), "--epochs", "4")
    assert result["final_loss"] < 0.7 * entropy, (result, entropy)
    assert result["test_loss"] < 0.8 * entropy
    module = load_module(graph)
    ckpt = str(tmp_path / "checkpoint.npz")
    greedy = module.sample_text(module.build_model, module.SPEC, module.TRAIN, ckpt, "The ", 40)
    beam = sample_text(graph, ckpt, "The ", 40, beam=4)
    for sample in (greedy, beam):
        assert sample.startswith("The ") and len(sample) == 44 and set(sample) <= set(counts)


class _Chain(torch.nn.Module):
    """Next-token log-probabilities that depend on the last token only (0: start, 1: A, 2: B)."""

    def __init__(self):
        super().__init__()
        table = torch.tensor([[1e-9, 0.6, 0.4], [1e-9, 0.5, 0.5], [1e-9, 0.01, 0.99]])
        self.log_table = torch.nn.Parameter(table.log())

    def forward(self, ids):
        return self.log_table[ids]


def test_beam_search_finds_the_better_sequence_than_greedy():
    module = load_module(load_graph(os.path.join(SPECS, "char_lstm.yaml")))
    model = _Chain()
    # greedy takes A (0.6) then 0.5: p = 0.30; beam search finds B, B: p = 0.396
    assert module.decode(model, [0], 2, beam=1) in ([1, 1], [1, 2])
    assert module.decode(model, [0], 2, beam=2) == [2, 2]


def test_resume_at_an_epoch_boundary_is_bit_exact_with_dropout(tmp_path, capsys):
    """digits_cnn has dropout: a resumed run must restore torch's RNG to draw the same masks."""
    spec = os.path.join(SPECS, "digits_cnn.yaml")
    steps_per_epoch = math.ceil(round(1797 * 0.8) / 32)
    whole = _train_json(capsys, spec, "-o", str(tmp_path / "whole"), "--epochs", "2")
    cut = _train_json(capsys, spec, "-o", str(tmp_path / "cut"), "--epochs", "2", "--max-steps", str(steps_per_epoch))
    assert cut["epochs"] == 1 and cut["state_sha256"] != whole["state_sha256"]
    resumed = _train_json(capsys, spec, "-o", str(tmp_path / "cut"), "--epochs", "2", "--resume")
    assert resumed["epochs"] == 2
    assert resumed["state_sha256"] == whole["state_sha256"]


def test_resume_after_max_steps_continues_the_epoch_count(tmp_path, capsys):
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    steps_per_epoch = math.ceil(round(1797 * 0.8) / 32)
    first = _train_json(capsys, spec, "-o", str(tmp_path), "--epochs", "3", "--max-steps",
                        str(steps_per_epoch + steps_per_epoch // 2))
    assert first["epochs"] == 1
    _, extra, meta = checkpoint.load(str(tmp_path / "checkpoint.npz"))
    assert meta["epoch"] == 1 and int(extra["__opt__/steps"]) == steps_per_epoch + steps_per_epoch // 2
    second = _train_json(capsys, spec, "-o", str(tmp_path), "--epochs", "3", "--resume")
    assert second["epochs"] == 3
    rows = _rows(tmp_path / "metrics.jsonl")
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    _, extra, meta = checkpoint.load(str(tmp_path / "checkpoint.npz"))
    assert meta["epoch"] == 3 and int(extra["__opt__/steps"]) > 2 * steps_per_epoch


def test_checkpoint_from_numpy_layout_loads_into_generated_model(tmp_path):
    graph = load_graph(os.path.join(SPECS, "digits_cnn.yaml"))
    rng = np.random.default_rng(0)
    state = {k: rng.normal(size=shape).astype(np.float32) for k, (shape, _) in graph.state_layout().items()}
    path = str(tmp_path / "other.npz")
    checkpoint.save(path, state, {"epoch": 2, "backend": "numpy"})
    module = load_module(graph)
    model = module.build_model()
    module.load_weights(model, path)
    assert all(np.array_equal(model.state_dict()[k].numpy(), v) for k, v in state.items())
    last = list(state)[-1]
    del state[last]
    checkpoint.save(path, state, {"epoch": 2})
    with pytest.raises(module.CheckpointError, match=f"missing {last}"):
        module.load_weights(module.build_model(), path)


def test_missing_data_file_is_one_line_exit_1(tmp_path, capsys):
    spec = os.path.join(SPECS, "char_lstm.yaml")
    assert main(["train", spec, "--backend", "torch", "-o", str(tmp_path), "--data", str(tmp_path / "nope.txt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.txt" in err[0] and "Traceback" not in err[0]
    model_py = tmp_path / "model.py"
    model_py.write_text(generate(load_graph(spec), format_code=False))
    done = subprocess.run([sys.executable, str(model_py), "--data", str(tmp_path / "nope.txt"), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, check=False, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nope.txt" in lines[0]
    done = subprocess.run([sys.executable, str(model_py), "--resume", "--out", str(tmp_path / "empty")],
                          capture_output=True, text=True, check=False, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 1 and "no checkpoint to resume from" in done.stderr


def test_two_input_spec_runs_but_cannot_train_on_one_array_data(tmp_path, capsys):
    graph = load_graph(os.path.join(SPECS, "captioning.yaml"))
    model = load_module(graph).build_model().eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 8, 8), torch.randint(0, 15, (2, 6)))
    assert tuple(logits.shape) == (2, 7, 15)          # the image is step 0, then T = 6 tokens
    text = Path(graph.source).read_text().replace("name: digits_captions", "name: digits")
    (tmp_path / "cap.yaml").write_text(text)
    assert main(["train", str(tmp_path / "cap.yaml"), "--backend", "torch", "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data 'digits' feeds one input" in err[0]


def _model_py(tmp_path, spec_name="digits_mlp.yaml"):
    model_py = tmp_path / "model.py"
    model_py.write_text(generate(load_graph(os.path.join(SPECS, spec_name)), format_code=False))
    return model_py


def _python(*argv, threads="1"):
    env = dict(os.environ, PYTHONPATH=ROOT, NETSPEC_THREADS=threads)
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, check=False,
                          timeout=300, cwd=ROOT, env=env)


def _epoch_lines(err: str) -> list:
    """The per-epoch lines of a run's stderr, numbers replaced by N."""
    assert "\r" not in err and "\x1b" not in err            # stderr is not a terminal: plain lines
    return [re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", line) for line in err.splitlines() if re.match(r"epoch \d+/\d+: ", line)]


def test_every_trainer_writes_the_same_rows_lines_and_plot(tmp_path, capsys):
    """numpy, torch and `python model.py`: the same metrics.jsonl fields, per-epoch line and training.png."""
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    lines = {}
    for backend in ("numpy", "torch"):
        assert main(["train", spec, "--backend", backend, "--epochs", "2", "-o", str(tmp_path / backend)]) == 0
        lines[backend] = _epoch_lines(capsys.readouterr().err)
    proc = _python(_model_py(tmp_path), "--epochs", "2", "--out", tmp_path / "model_py")
    assert proc.returncode == 0, proc.stderr
    lines["model_py"] = _epoch_lines(proc.stderr)
    fields = {}
    for name in lines:
        rows = _rows(tmp_path / name / "metrics.jsonl")
        assert [row["epoch"] for row in rows] == [1, 2], name
        fields[name] = list(rows[-1])
        assert (tmp_path / name / "training.png").read_bytes().startswith(b"\x89PNG"), name
    assert fields["numpy"] == fields["torch"] == fields["model_py"]
    assert fields["numpy"] == ["epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                               "samples_per_second"]
    assert lines["numpy"] == lines["torch"] == lines["model_py"]
    line = "epoch N/N: train_loss N, train_accuracy N, test_loss N, test_accuracy N, lr N, N s, N samples/s"
    assert lines["numpy"] == [line, line]


def test_run_directory_and_resume_refusals_are_the_same_everywhere(tmp_path, capsys):
    spec, empty = os.path.join(SPECS, "digits_mlp.yaml"), str(tmp_path / "empty")
    module = load_module(load_graph(spec))

    def model_py(*argv):                  # the generated file's command line (`python model.py ...`)
        return module.run_cli(module.build_model, module.SPEC, module.TRAIN, list(argv))

    runs = {"numpy": lambda *a: main(["train", spec, "-o", empty, *a]),
            "torch": lambda *a: main(["train", spec, "--backend", "torch", "-o", empty, *a]),
            "model.py": lambda *a: model_py("--out", empty, *a)}
    refusals = {}
    for name, train in runs.items():
        assert train("--resume") == 1, name
        refusals[name] = capsys.readouterr().err.strip().split("error: ", 1)[1]
    assert refusals["numpy"] == refusals["torch"] == refusals["model.py"]
    assert refusals["numpy"].startswith(f"{os.path.join(empty, 'checkpoint.npz')}: no checkpoint to resume from")
    assert not os.path.exists(empty)
    out = str(tmp_path / "run")
    assert model_py("--out", out, "--epochs", "1", "-q") == 0
    for name, train in (("model.py", lambda: model_py("--out", out, "-q")),
                        ("torch", lambda: main(["train", spec, "--backend", "torch", "-o", out, "-q"]))):
        assert train() == 1, name
        err = capsys.readouterr().err.strip()
        assert "already holds a training run" in err and "--resume" in err and "--overwrite" in err, name
    assert model_py("--out", out, "--epochs", "2", "-q", "--overwrite") == 0
    assert [row["epoch"] for row in _rows(tmp_path / "run" / "metrics.jsonl")] == [1, 2]


def test_ctrl_c_before_the_first_checkpoint_offers_nothing_to_resume(tmp_path, capsys):
    module = load_module(load_graph(os.path.join(SPECS, "digits_mlp.yaml")))

    def interrupt(*args, **kwargs):           # Ctrl-C while preparing the run (as in pretraining)
        raise KeyboardInterrupt

    code = module.run_cli(module.build_model, module.SPEC, module.TRAIN, ["--out", str(tmp_path / "run")],
                          hooks={"pretrain": interrupt})
    err = capsys.readouterr().err.strip()
    assert code == 130
    assert err.startswith("interrupted; no checkpoint was saved yet") and "--resume" not in err


def test_threads_set_torchs_thread_count(tmp_path, capsys, monkeypatch):
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    monkeypatch.setenv("NETSPEC_THREADS", "1")          # restored afterwards, as --threads sets it process-wide
    try:
        assert main(["train", spec, "--backend", "torch", "--epochs", "1", "-o", str(tmp_path), "-q",
                     "--threads", "3"]) == 0
        assert torch.get_num_threads() == 3
        monkeypatch.setenv("NETSPEC_THREADS", "2")
        assert main(["eval", spec, "--backend", "torch", "--checkpoint", str(tmp_path / "checkpoint.npz")]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    module = load_module(load_graph(spec))
    with pytest.raises(SystemExit) as exit_info:
        module.run_cli(module.build_model, module.SPEC, module.TRAIN, ["--threads", "0", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "--threads" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_in_model_py_names_the_checkpoint_and_resumes(tmp_path):
    from test_numpy_train import interrupt_after_checkpoint
    model_py, out = _model_py(tmp_path, "digits_cnn.yaml"), tmp_path / "run"
    code, _, epoch, again = interrupt_after_checkpoint([sys.executable, str(model_py), "--epochs", "4", "--out",
                                                        str(out)], out, cwd=tmp_path)
    assert code == 130 and 1 <= epoch < 4
    assert again == ["python", str(model_py), "--epochs", "4", "--out", str(out), "--resume"]
    resumed = _python(*again[1:], "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["epochs"] == 4
    assert [row["epoch"] for row in _rows(out / "metrics.jsonl")] == [1, 2, 3, 4]
