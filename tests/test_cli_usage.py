"""Command-line mistakes: bad counts are usage errors (exit 2, `usage:`), wrong files and paths are one message
(exit 1), default outputs stay inside the working directory or runs/, and no case reaches an internal error."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SPECS

from netspec.paths import default_output, default_run_dir, file_stem

MLP = os.path.join(SPECS, "digits_mlp.yaml")
RBM = os.path.join(SPECS, "rbm_digits.yaml")
CHAR = os.path.join(SPECS, "char_lstm.yaml")
CAPTIONING = os.path.join(SPECS, "captioning.yaml")
MLP_TEXT = Path(MLP).read_text()


def netspec(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "netspec", *map(str, args)], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def assert_clean(proc, code: int, *phrases: str) -> None:
    """Exit `code` with one `netspec: error:` line (after a usage line for exit 2) holding every phrase."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert proc.stderr.count("netspec: error:") == 1, proc.stderr
    if code == 2:
        assert proc.stderr.startswith("usage: netspec "), proc.stderr
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr


# ---------------------------------------------------------------- counts and seeds: exit 2 before any work

BAD_COUNTS = [
    (["train", MLP, "--batch-size", "0"], "--batch-size: must be at least 1, found 0"),
    (["train", MLP, "--batch-size", "-3"], "--batch-size: must be at least 1, found -3"),
    (["train", MLP, "--epochs", "0"], "--epochs: must be at least 1, found 0"),
    (["train", MLP, "--epochs", "-1"], "--epochs: must be at least 1, found -1"),
    (["train", MLP, "--max-steps", "0"], "--max-steps: must be at least 1, found 0"),
    (["train", MLP, "--seed", "-5"], "--seed: must be 0 or more, found -5"),
    (["train", MLP, "--epochs", "two"], "--epochs: expected a whole number, found 'two'"),
    (["eval", MLP, "--checkpoint", "c.npz", "--batch-size", "0"], "--batch-size: must be at least 1, found 0"),
    (["verify", MLP, "--batch", "0"], "must be at least 1, found 0"),
    (["verify", MLP, "--batch-size", "-2"], "must be at least 1, found -2"),
    (["verify", MLP, "--seed", "-1"], "--seed: must be 0 or more, found -1"),
    (["verify", MLP, "--tolerance", "nan"], "--tolerance: must be a finite number"),
    (["sample", RBM, "--seed", "-5"], "--seed: must be 0 or more, found -5"),
    (["sample", RBM, "--count", "0"], "--count: must be at least 1, found 0"),
    (["sample", RBM, "--steps", "-1"], "--steps: must be 0 or more, found -1"),
    (["draw", MLP, "--depth", "-1"], "--depth: must be 0 or more, found -1"),
    (["train", MLP, "--backend", "nump"], "did you mean 'numpy'?"),
    (["verify", MLP, "--backend", "cuda"], "unknown backend 'cuda'"),
    (["compile", MLP, "--target", "tourch"], "did you mean 'torch'?"),
    (["sample", RBM, "-o", "grid.svg"], "written as PNG"),
    (["predict", MLP, "--checkpoint", "c.npz", "--input", "x.npy", "--output", "out.txt"], "as .npy or .npz"),
]


@pytest.mark.parametrize("args, phrase", BAD_COUNTS, ids=[" ".join(a[:1] + a[2:]) for a, _ in BAD_COUNTS])
def test_bad_counts_are_usage_errors(tmp_path, args, phrase):
    run_dir = tmp_path / "run"
    if args[0] == "train":
        args = args + ["--run-dir", run_dir]
    proc = netspec(*args, cwd=tmp_path)
    assert_clean(proc, 2, phrase)
    assert not run_dir.exists() and os.listdir(tmp_path) == []     # nothing trained, nothing written


def test_negative_epochs_keep_the_earlier_checkpoint(tmp_path):
    first = netspec("train", MLP, "--run-dir", tmp_path / "run", "--max-steps", "1", "-q")
    assert first.returncode == 0, first.stderr
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    before = checkpoint.read_bytes()
    assert_clean(netspec("train", MLP, "--run-dir", tmp_path / "run", "--epochs", "-1", "--resume"), 2, "--epochs")
    assert checkpoint.read_bytes() == before


MODEL_MAIN = """
import contextlib, io, json, sys
sys.argv[0] = "model.py"
import model
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = model.main(argv)
        except SystemExit as exc:
            code = exc.code
    print(json.dumps([code, err.getvalue()]))
"""


def test_generated_model_file_refuses_bad_counts(tmp_path):
    pytest.importorskip("torch")
    import json
    assert netspec("compile", MLP, "-o", tmp_path / "model.py").returncode == 0
    cases = [(["--batch-size", "0"], "--batch-size: must be at least 1, found 0"),
             (["--epochs", "-1"], "--epochs: must be at least 1, found -1"),
             (["--max-steps", "0"], "--max-steps: must be at least 1"),
             (["--seed", "-5"], "--seed: must be 0 or more")]
    proc = subprocess.run([sys.executable, "-c", MODEL_MAIN, json.dumps([args for args, _ in cases])], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": ""}, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    for (_, phrase), line in zip(cases, proc.stdout.splitlines()[-len(cases):]):
        code, stderr = json.loads(line)
        assert code == 2 and stderr.startswith("usage: model.py") and phrase in stderr, stderr
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- files of the wrong kind: exit 1

@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 64), np.float32))
    (tmp_path / "spec.yaml").write_text(MLP_TEXT)
    return tmp_path


@pytest.mark.parametrize("args, phrases", [
    (["eval", MLP, "--checkpoint", "x.npy"], ["x.npy: is an .npy array, not a checkpoint"]),
    (["eval", MLP, "--checkpoint", "spec.yaml"], ["spec.yaml: not a NumPy .npy or .npz file"]),
    (["predict", MLP, "--checkpoint", "x.npy", "--input", "x.npy"], ["x.npy: is an .npy array, not a checkpoint"]),
    (["predict", MLP, "--checkpoint", "spec.yaml", "--input", "x.npy"], ["spec.yaml: not a NumPy .npy or .npz"]),
    (["predict", MLP, "--checkpoint", "x.npz", "--input", "spec.yaml"], ["spec.yaml: not a NumPy .npy or .npz file"]),
    (["predict", MLP, "--checkpoint", "missing.npz", "--input", "x.npy"], ["missing.npz: checkpoint not found"]),
    (["sample", RBM, "--checkpoint", "x.npy"], ["x.npy: is an .npy array, not a checkpoint"]),
    (["compile", MLP, "--target", "onnx", "-o", "m.onnx", "--checkpoint", "spec.yaml"], ["not a NumPy .npy or .npz"]),
])
def test_wrong_file_kinds_get_one_message(files, args, phrases):
    proc = netspec(*args, cwd=files)
    assert_clean(proc, 1, *phrases)
    assert "allow_pickle" not in proc.stderr and "TypeError" not in proc.stderr


def test_spec_without_train_section_says_so(tmp_path):
    spec = tmp_path / "bare.yaml"
    spec.write_text("name: bare\ninput: {shape: [4]}\nlayers:\n  - {type: linear, units: 3}\n")
    assert_clean(netspec("train", spec, "--run-dir", tmp_path / "run"), 1, "has no train: section")
    assert not (tmp_path / "run").exists()


def test_two_input_spec_with_one_array_names_its_inputs(files):
    """Several inputs train (tests/test_multi_io.py); one plain array for them is refused with their names."""
    from backends.checkpoint import save
    from netspec import load_graph
    layout = load_graph(CAPTIONING).state_layout()
    save(str(files / "c.npz"), {k: np.zeros(shape, np.float32) for k, (shape, _) in layout.items()})
    np.save(files / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    proc = netspec("predict", CAPTIONING, "--checkpoint", "c.npz", "--input", "x.npy", cwd=files)
    assert_clean(proc, 1, "x.npy: is one array; spec 'captioning' has inputs image, tokens", "np.savez(")
    np.savez(files / "x.npz", image=np.zeros((2, 1, 8, 8), np.float32))
    proc = netspec("predict", CAPTIONING, "--checkpoint", "c.npz", "--input", "x.npz", cwd=files)
    assert_clean(proc, 1, "x.npz: no array 'tokens' for input 'tokens' (found image)")


def test_token_id_outside_vocabulary_same_message_on_numpy_and_torch(tmp_path):
    pytest.importorskip("torch")
    from backends.checkpoint import save
    from netspec import load_graph
    layout = load_graph(CHAR).state_layout()
    save(str(tmp_path / "c.npz"), {k: np.zeros(shape, np.float32) for k, (shape, _) in layout.items()})
    np.save(tmp_path / "ids.npy", np.array([[1, 2, 70, 3]], np.int64))
    messages = set()
    for backend in ("numpy", "torch"):
        proc = netspec("predict", CHAR, "--checkpoint", "c.npz", "--input", "ids.npy", "--backend", backend,
                       cwd=tmp_path)
        assert_clean(proc, 1, "token id 70 is outside the embedding's vocabulary of 52")
        messages.add(proc.stderr.strip().splitlines()[-1])
    assert len(messages) == 1


# ---------------------------------------------------------------- output paths

def test_outputs_into_missing_folders_are_refused_and_create_nothing(files):
    missing = files / "missing"
    (files / "taken.svg").mkdir()
    (files / "c.npz").write_bytes((files / "x.npz").read_bytes())
    cases = [
        (["draw", MLP, "-o", missing / "dir" / "x.svg"], "folder"),
        (["compile", MLP, "-o", missing / "model.py"], "folder"),
        (["compile", MLP, "--target", "onnx", "-o", missing / "model.onnx"], "folder"),
        (["sample", RBM, "-o", missing / "grid.png", "--checkpoint", "c.npz"], "folder"),
        (["predict", MLP, "--checkpoint", "c.npz", "--input", "x.npy", "--output", missing / "o.npz"], "folder"),
        (["train", MLP, "--run-dir", missing / "deeper" / "run"], "cannot make run directory"),
        (["draw", MLP, "-o", files / "taken.svg"], "is a directory"),
        (["train", MLP, "--run-dir", files / "x.npy"], "is a file"),
    ]
    for args, phrase in cases:
        assert_clean(netspec(*args, cwd=files), 1, phrase, "does not exist" if phrase == "folder" else phrase)
        assert not missing.exists()


def test_default_outputs_stay_in_the_working_directory(tmp_path):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    for name in ("../../escaped", "/tmp/escaped-abs", "..", "a/../../up"):
        spec = work / "spec.yaml"
        spec.write_text(MLP_TEXT.replace("name: digits_mlp", f"name: {name!r}"))
        proc = netspec("draw", spec, cwd=work)
        assert proc.returncode in (0, 1) and "internal error" not in proc.stderr, proc.stderr
        if proc.returncode == 0:      # the name is accepted: the diagram is written here, under a plain name
            assert f"wrote {default_output(name, 'svg')} " in proc.stderr
            assert (work / default_output(name, "svg")).is_file()
    assert sorted(os.listdir(tmp_path)) == ["a"] and sorted(os.listdir(tmp_path / "a")) == ["b"]
    assert not os.path.exists("/tmp/escaped-abs.svg")


def test_default_run_dir_of_a_hostile_name_is_under_runs(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    spec = work / "spec.yaml"
    spec.write_text(MLP_TEXT.replace("name: digits_mlp", "name: ../../outside"))
    proc = netspec("train", spec, "--max-steps", "1", "-q", cwd=work)
    assert proc.returncode in (0, 1) and "internal error" not in proc.stderr, proc.stderr
    if proc.returncode == 0:
        assert (work / default_run_dir("../../outside") / "checkpoint.npz").is_file()
    assert sorted(os.listdir(tmp_path)) == ["w"] and not (tmp_path / "outside").exists()


def test_file_stem_keeps_plain_names_and_flattens_the_rest():
    assert file_stem("lenet5") == "lenet5" and file_stem("res-net.v2") == "res-net.v2"
    for name in ("../../x", "/etc/passwd", "..", ".", "a\\b", "a b\n", "", "x" * 500, "ünï"):
        stem = file_stem(name)
        assert stem and len(stem) <= 100 and not stem.startswith(".")
        assert os.path.basename(stem) == stem and os.sep not in stem and "/" not in stem and "\\" not in stem
    assert default_run_dir("../../x") == os.path.join("runs", file_stem("../../x"))


# ---------------------------------------------------------------- help: one spelling, choices and examples

def test_help_is_consistent():
    helps = {name: netspec(name, "--help").stdout for name in ("check", "summary", "train", "eval", "verify",
                                                                 "compile", "sample", "predict")}
    for name in ("train", "eval", "predict", "verify"):
        assert "{numpy,numba-cuda,torch}" in helps[name], name
    for name in ("train", "eval", "verify", "predict"):
        assert "--batch-size N" in helps[name], name
    assert "--run-dir DIR, -o DIR, --out DIR" in helps["train"]
    assert "{torch,onnx}" in helps["compile"]
    assert "examples:" in helps["check"] and "examples:" in helps["summary"]
    seed_help = helps["sample"].split("\n  --seed N", 1)[1].split("--scale", 1)[0]
    assert "seed" in seed_help and "default 0" in seed_help


def test_run_dir_rules(tmp_path, monkeypatch):
    from netspec.errors import UserError
    from netspec.paths import check_run_dir
    monkeypatch.chdir(tmp_path)
    for good in (os.path.join("runs", "new"), "fresh", str(tmp_path), str(tmp_path / "runs" / "new")):
        assert check_run_dir(good) == good
    for bad in (os.path.join("runs", "a", "b"), os.path.join("nope", "run"), os.path.join("nope", "runs", "x")):
        with pytest.raises(UserError, match="does not exist"):
            check_run_dir(bad)
    assert os.listdir(tmp_path) == []


def test_train_run_dir_spellings_are_one_option():
    from netspec.cli import build_parser
    parser = build_parser("train")
    for option in ("--run-dir", "-o", "--out"):
        assert parser.parse_args(["train", MLP, option, "somewhere"]).run_dir == "somewhere"
    assert build_parser("verify").parse_args(["verify", MLP, "--batch", "3"]).batch_size == 3
