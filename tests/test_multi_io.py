"""Several inputs and outputs: named .npz data, digits_captions, padding-free losses, per-output metrics,
generation and BLEU; NumPy and the generated PyTorch file (Numba-CUDA: tests/test_multi_io_cuda.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from netspec.decode import beam_search, bleu
from netspec.errors import UserError
from netspec.multidata import CAPTION_WORDS, Arrays, caption_text, digits_captions, load_multi_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTIONING = os.path.join(ROOT, "specs", "captioning.yaml")

TWO_HEADS = """name: two_heads
inputs:
  image: {shape: [64]}
  extra: {shape: [4]}
layers:
  - {type: linear, name: h, units: 32, activation: relu, from: image}
  - {type: concat, name: j, from: [h, extra]}
  - {type: linear, name: digit, units: 10, from: j}
  - {type: linear, name: ink, units: 1, from: j}
outputs: [digit, ink]
train:
  loss: {digit: cross_entropy, ink: {type: mse, weight: 0.5}}
  optimizer: {type: adam, lr: 0.01}
  epochs: 4
  batch_size: 32
  data: {name: npz, path: two_heads.npz}
"""


def cli(*args, cwd=ROOT, env=None):
    env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, "-m", "netspec", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def two_heads(tmp_path):
    from sklearn.datasets import load_digits
    digits = load_digits()
    image = (digits.data / 16.0).astype(np.float32)
    extra = np.random.default_rng(0).normal(size=(len(image), 4)).astype(np.float32)
    np.savez(tmp_path / "two_heads.npz", image=image, extra=extra, digit=digits.target.astype(np.int64),
             ink=image.mean(axis=1, keepdims=True))
    (tmp_path / "two_heads.yaml").write_text(TWO_HEADS)
    return tmp_path / "two_heads.yaml"


# ------------------------------------------------------------------ data

def test_digits_captions_are_word_tokens_with_the_digits_split():
    from netspec.data import load_dataset
    train, test, words = digits_captions(0.2, 0)
    assert words[0] == "<pad>" and words == list(CAPTION_WORDS)
    assert train["caption"].shape[1] == 5 and train["caption"].dtype == np.int64
    assert caption_text(train["caption"][0], words).startswith("a handwritten ")
    digits = load_dataset({"name": "digits"}, (8, 8), seed=0)
    np.testing.assert_array_equal(train["image"], digits.x_train)          # same split as `digits`
    named = [caption_text(c, words).split()[-1] for c in test["caption"]]
    assert named == [["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][y]
                     for y in digits.y_test]


def test_teacher_forcing_shifts_the_caption():
    inputs = {"image": ((1, 8, 8), "float32"), "tokens": (("T",), "int64")}
    data = load_multi_dataset({"name": "digits_captions"}, inputs, ["logits"], 0)
    bos, eos = CAPTION_WORDS.index("<bos>"), CAPTION_WORDS.index("<eos>")
    assert data.x_train["image"].shape[1:] == (1, 8, 8)
    assert (data.x_train["tokens"][:, 0] == bos).all() and (data.y_train[:, -1] == eos).all()
    np.testing.assert_array_equal(data.x_train["tokens"][:, 1:], data.y_train[:, :-1])


@pytest.mark.parametrize("arrays, message", [
    ({"image": np.zeros((4, 64), np.float32), "target": np.zeros(4, np.int64)}, "no array 'extra'"),
    ({"image": np.zeros((4, 63), np.float32), "extra": np.zeros((4, 4), np.float32), "target": np.zeros(4, np.int64)},
     "array 'image': samples have shape 63, the spec's input is 64"),
    ({"image": np.zeros((4, 64), np.float32), "extra": np.zeros((3, 4), np.float32), "target": np.zeros(4, np.int64)},
     "array 'extra' has 3 samples but 'image' has 4"),
    ({"image": np.zeros((4, 64), np.float32), "extra": np.zeros((4, 4), np.float32)}, "no array 'target'"),
])
def test_npz_errors_name_the_array(tmp_path, arrays, message):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    inputs = {"image": ((64,), "float32"), "extra": ((4,), "float32")}
    with pytest.raises(UserError, match=message):
        load_multi_dataset({"name": "npz", "path": str(path)}, inputs, ["out"], 0, "cross_entropy")


def test_npz_token_input_needs_integers(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((4, 64), np.float32), tokens=np.zeros((4, 5), np.float32),
             target=np.zeros((4, 5), np.int64))
    inputs = {"image": ((64,), "float32"), "tokens": (("T",), "int64")}
    with pytest.raises(UserError, match="array 'tokens': holds float32 values, the input takes integer token ids"):
        load_multi_dataset({"name": "npz", "path": str(path)}, inputs, ["out"], 0, "cross_entropy")


# ------------------------------------------------------------------ losses

def test_cross_entropy_ignores_padding_like_torch():
    import torch
    import torch.nn.functional as F

    from backends.numpy.ops import NumpyOps
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 6)).astype(np.float64)
    labels = rng.integers(0, 6, size=(3, 4))
    labels[0, :2] = labels[2, 3] = -100
    ops, ctx = NumpyOps("float64"), {}
    loss = ops.loss_forward("cross_entropy", ctx, logits.copy(), labels)
    grad = ops.loss_backward(ctx)
    t = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(t.reshape(-1, 6), torch.tensor(labels).reshape(-1))
    ref.backward()
    assert abs(loss - float(ref.detach())) < 1e-12
    np.testing.assert_allclose(grad, t.grad.numpy(), atol=1e-12)
    assert np.abs(grad[0, :2]).max() == 0


def test_short_targets_align_to_the_last_steps_and_padding_is_not_counted():
    from backends.runtime.model import scored_labels, token_hits
    labels = scored_labels(np.array([[3, 4, 0]]), steps=4, ignore_index=0)
    np.testing.assert_array_equal(labels, [[-100, 3, 4, -100]])
    out = np.zeros((1, 4, 5))
    out[0, 1, 3] = out[0, 2, 1] = 1            # step 1 right, step 2 wrong; steps 0 and 3 are not counted
    assert token_hits(out, labels) == (1, 2)


def test_loss_mapping_is_validated(tmp_path):
    bad = TWO_HEADS.replace("ink: {type: mse, weight: 0.5}", "ink: {type: mse, wieght: 0.5}")
    (tmp_path / "s.yaml").write_text(bad)
    proc = cli("check", str(tmp_path / "s.yaml"))
    assert proc.returncode == 1 and "unknown key 'wieght' in 'train.loss.ink'" in proc.stderr
    assert "did you mean 'weight'?" in proc.stderr
    (tmp_path / "t.yaml").write_text(TWO_HEADS.replace("ink: {type: mse", "inc: {type: mse"))
    proc = cli("check", str(tmp_path / "t.yaml"))
    assert proc.returncode == 1 and "train.loss names 'inc', which is not an output" in proc.stderr
    assert "did you mean 'ink'?" in proc.stderr and "no loss for output 'ink'" in proc.stderr


# ------------------------------------------------------------------ decoding and BLEU

def test_bleu_follows_papineni():
    ref = ["a", "b", "c", "d", "e", "f"]
    assert bleu([ref], [ref]) == pytest.approx(1.0)
    # p1 5/6, p2 3/5, p3 2/4, p4 1/3; same length: no brevity penalty
    expected = (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert bleu([ref], [["a", "b", "c", "d", "x", "f"]]) == pytest.approx(expected)
    # clipped counts: "a a a a" against "a b c d" matches one unigram of four; too short -> brevity penalty
    assert bleu([["a", "b", "c", "d", "e"]], [["a", "b", "c", "d"]]) == pytest.approx(np.exp(1 - 5 / 4))
    assert bleu([["a", "b", "c"]], [["a", "b", "c"]]) == 0.0          # no 4-grams at all


def test_beam_search_finds_what_greedy_misses():
    # token 1 first looks best (0.6) but every continuation is poor; token 2 (0.4) leads to a sure end
    table = {(): [0.0, 0.6, 0.4, 0.0], (1,): [0.5, 0.0, 0.0, 0.5], (2,): [1.0, 0.0, 0.0, 0.0]}

    def step(rows, prefixes):
        return np.log(np.array([table.get(tuple(p[1:]), [1.0, 0, 0, 0]) for p in prefixes]) + 1e-12)
    assert beam_search(step, 1, [3], eos=0, beam=1) == [[1, 0]]
    assert beam_search(step, 1, [3], eos=0, beam=3) == [[2, 0]]


# ------------------------------------------------------------------ several outputs, end to end

@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_two_outputs_train_with_weighted_losses(tmp_path, backend):
    spec = two_heads(tmp_path)
    proc = cli("train", str(spec), "--backend", backend, "--out", str(tmp_path / "run"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["test_accuracy/digit"] > 0.85 and result["test_accuracy"] == result["test_accuracy/digit"]
    assert result["test_loss/ink"] < 0.05
    assert result["test_loss"] == pytest.approx(result["test_loss/digit"] + 0.5 * result["test_loss/ink"], rel=1e-4)
    proc = cli("eval", str(spec), "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["test_accuracy/digit"] > 0.85
    arrays = np.load(tmp_path / "two_heads.npz")
    np.savez(tmp_path / "x.npz", image=arrays["image"][:5], extra=arrays["extra"][:5])
    proc = cli("predict", str(spec), "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--input",
               str(tmp_path / "x.npz"), "--output", str(tmp_path / "y.npz"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = np.load(tmp_path / "y.npz")
    assert out["digit"].shape == (5, 10) and out["ink"].shape == (5, 1)


def test_verify_weighs_every_output(tmp_path):
    from backends.verify import verify
    from netspec import load_graph
    graph = load_graph(str(two_heads(tmp_path)))
    report = verify(graph, only=["torch"])
    torch_row = report["backends"]["torch"]
    assert torch_row["loss_diff"] <= 1e-5 and torch_row["grad_max_abs"] <= 1e-5
    (tmp_path / "no_ink.yaml").write_text(TWO_HEADS.replace("weight: 0.5", "weight: 0.0"))
    assert verify(load_graph(str(tmp_path / "no_ink.yaml")), only=["torch"])["loss"] < report["loss"]


def test_verify_captioning_numpy_and_torch_agree():
    proc = cli("verify", CAPTIONING, "--json")
    assert proc.returncode == 0, proc.stderr
    torch_row = json.loads(proc.stdout)["backends"]["torch"]
    assert abs(torch_row["loss_diff"]) <= 1e-5 and torch_row["grad_max_abs"] <= 1e-5


# ------------------------------------------------------------------ captioning, trained (slow)

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("captioning")
    proc = cli("train", CAPTIONING, "--backend", "numpy", "--out", str(run), "--json")
    assert proc.returncode == 0, proc.stderr
    return run, json.loads(proc.stdout)


@pytest.mark.slow
def test_captioning_trains_and_greedy_captions_are_exact(trained):
    run, result = trained
    assert result["test_accuracy"] > 0.95                 # per token, padding and the image step excluded
    greedy = json.loads(cli("eval", CAPTIONING, "--checkpoint", str(run / "checkpoint.npz"), "--json").stdout)
    beam = json.loads(cli("eval", CAPTIONING, "--checkpoint", str(run / "checkpoint.npz"), "--json",
                          "--beam", "3").stdout)
    assert greedy["exact_match"] >= 0.9 and greedy["bleu4"] >= 0.9
    assert beam["exact_match"] >= greedy["exact_match"] and beam["bleu4"] >= greedy["bleu4"]


@pytest.mark.slow
def test_generate_gives_the_same_captions_on_every_backend(trained, tmp_path):
    run, _ = trained
    _, test, _ = digits_captions(0.2, 0)
    np.savez(tmp_path / "some.npz", image=test["image"][:20], caption=test["caption"][:20])
    captions = {}
    for backend in ("numpy", "torch"):
        proc = cli("generate", CAPTIONING, "--checkpoint", str(run / "checkpoint.npz"), "--input",
                   str(tmp_path / "some.npz"), "--beam", "3", "--backend", backend, "--json")
        assert proc.returncode == 0, proc.stderr
        captions[backend] = json.loads(proc.stdout)["captions"]
    assert captions["numpy"] == captions["torch"]
    assert all(c.startswith("a handwritten ") for c in captions["numpy"])


@pytest.mark.slow
def test_generated_file_trains_resumes_and_generates(tmp_path):
    model = tmp_path / "cap.py"
    assert cli("compile", CAPTIONING, "--target", "torch", "-o", str(model)).returncode == 0
    env = dict(os.environ, PYTHONPATH="")
    base = [sys.executable, str(model), "--out", str(tmp_path / "run"), "--json", "--threads", "1"]
    proc = subprocess.run([*base, "--epochs", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([*base, "--epochs", "6", "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["epochs"] == 6 and result["test_accuracy"] > 0.9
    _, test, _ = digits_captions(0.2, 0)
    np.savez(tmp_path / "some.npz", image=test["image"][:30], caption=test["caption"][:30])
    proc = subprocess.run([sys.executable, str(model), "--generate", "--out", str(tmp_path / "run"), "--input",
                           str(tmp_path / "some.npz"), "--beam", "3", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    generated = json.loads(proc.stdout)
    assert len(generated["captions"]) == 30 and generated["exact_match"] >= 0.8
    netspec = cli("generate", CAPTIONING, "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--input",
                  str(tmp_path / "some.npz"), "--beam", "3", "--json")
    assert json.loads(netspec.stdout)["captions"] == generated["captions"]


def test_arrays_index_together():
    arrays = Arrays({"a": np.arange(5), "b": np.arange(10).reshape(5, 2)})
    part = arrays[np.array([4, 0])]
    assert len(part) == 2 and part["a"].tolist() == [4, 0] and part["b"].tolist() == [[8, 9], [0, 1]]


def test_generate_continues_a_character_model_on_every_backend(tmp_path):
    spec = os.path.join(ROOT, "specs", "char_lstm.yaml")
    proc = cli("train", spec, "--backend", "numpy", "--out", str(tmp_path / "run"), "--max-steps", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    texts = []
    for backend in ("numpy", "torch"):
        proc = cli("generate", spec, "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--length", "20",
                   "--beam", "2", "--backend", backend, "--json")
        assert proc.returncode == 0, proc.stderr
        texts.append(json.loads(proc.stdout)["text"])
    assert texts[0] == texts[1] and texts[0].startswith("The ") and len(texts[0]) == 24
    proc = cli("generate", spec, "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--prime", "\u00e9")
    assert proc.returncode == 1 and "--prime has characters the model never saw" in proc.stderr


@pytest.mark.slow
def test_generated_captioner_trains_under_torchrun(tmp_path):
    import shutil
    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun is installed with torch"
    model = tmp_path / "cap.py"
    assert cli("compile", CAPTIONING, "--target", "torch", "-o", str(model)).returncode == 0
    proc = subprocess.run([torchrun, "--nproc_per_node=2", str(model), "--epochs", "1", "--out", str(tmp_path / "run"),
                           "--json", "--threads", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          check=False, env=dict(os.environ, PYTHONPATH=""))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in rows) == [0, 1] and len({r["state_sha256"] for r in rows}) == 1
    assert 0 < rows[0]["test_accuracy"] <= 1
