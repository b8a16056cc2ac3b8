"""Energy specs through the product: check, netspec train --backend numpy (pretraining hook), sample, tied layers."""
import os
import subprocess
import sys

import numpy as np
import pytest

from backends import checkpoint
from netspec import load_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_DBM = """
name: tiny_dbm
input: {shape: [1, 8, 8]}
layers:
  - flatten
  - {type: rbm, hidden: 32}
  - {type: rbm, hidden: 16}
  - {type: linear, units: 10}
pretrain: {method: dbm, epochs: 2, lr: 0.05, batch_size: 32, joint_epochs: 2, mean_field_steps: 3, chains: 32}
train: {epochs: 1, batch_size: 64, optimizer: adam, data: {name: digits, samples: 300}}
"""
TINY_AE = """
name: tiny_ae
input: {shape: [64]}
layers:
  - {type: rbm, name: enc, hidden: 16, epochs: 2}
  - {type: rbm, name: code, hidden: 4, hidden_units: gaussian, lr: 0.005, epochs: 2}
  - {type: tied, name: dec, of: code}
  - {type: tied, name: out, of: enc}
pretrain: {method: autoencoder, batch_size: 32}
train: {task: reconstruction, loss: bce, epochs: 2, batch_size: 64, optimizer: adam, data: {name: digits}}
"""


def netspec(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "netspec", *args], check=False, cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_energy_specs_check():
    specs = [f for f in sorted(os.listdir(os.path.join(ROOT, "specs")))
             if f.startswith(("dbn", "dbm", "rbm")) or "autoencoder" in f]
    assert len(specs) >= 7
    done = netspec("check", *(os.path.join("specs", f) for f in specs))
    assert done.returncode == 0, done.stdout + done.stderr


def test_tied_layer_params_and_errors(tmp_path):
    graph = load_graph(write(tmp_path, "ae.yaml", TINY_AE))
    assert graph["out"].shape == (64,) and graph["dec"].shape == (16,)
    assert [t.name for t in graph["out"].params] == ["bias"] and graph["out"].attrs["activation"] == "sigmoid"
    assert graph["dec"].attrs["activation"] == "sigmoid"     # code's visible units (enc's hidden) are binary
    bad = write(tmp_path, "bad.yaml", TINY_AE.replace("of: enc}", "of: encc}"))
    done = netspec("check", bad)
    assert done.returncode == 1
    assert "bad.yaml:" in done.stdout + done.stderr and "did you mean 'enc'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_train_autoencoder_numpy_with_tied_decoder(tmp_path):
    spec = write(tmp_path, "ae.yaml", TINY_AE)
    out = tmp_path / "run"
    done = netspec("train", spec, "--backend", "numpy", "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    state, _, _ = checkpoint.load(str(out / "checkpoint.npz"))
    pre, _, meta = checkpoint.load(str(out / "pretrained.npz"))
    assert meta["phase"] == "pretrained"
    assert set(state) == {"enc.weight", "enc.bias", "enc.visible_bias", "code.weight", "code.bias",
                          "code.visible_bias", "dec.bias", "out.bias"}
    assert np.allclose(pre["out.bias"], pre["enc.visible_bias"])   # decoder bias starts at the visible bias
    assert not np.allclose(state["enc.weight"], pre["enc.weight"])  # fine-tuning moved the shared weight
    assert (out / "pretrain.jsonl").exists()


def test_train_dbm_then_resume_and_sample(tmp_path):
    spec = write(tmp_path, "dbm.yaml", TINY_DBM)
    out = tmp_path / "run"
    done = netspec("train", spec, "--backend", "numpy", "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    rows = (out / "pretrain.jsonl").read_text().splitlines()
    assert any('"dbm"' in row for row in rows) and any("recon_error" in row for row in rows)
    again = netspec("train", spec, "--backend", "numpy", "-o", str(out), "--epochs", "2", "--resume", "--json")
    assert again.returncode == 0, again.stderr
    png = tmp_path / "grid.png"
    done = netspec("sample", spec, "--checkpoint", str(out / "pretrained.npz"), "-o", str(png), "--count", "9",
                   "--steps", "20")
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_rejects_specs_without_rbms(tmp_path):
    done = netspec("sample", "specs/digits_mlp.yaml", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 1 and "no rbm layers" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["rbm_digits", "rbm_digits_pcd", "dbn_digits", "dbm_digits"])
def test_digits_specs_pretrain_generative_models(name):
    """Each digits energy spec, pretrained with its own settings, samples digits that are near real test digits
    and as varied as half the test digits are (a collapsed model samples one grey blob over and over)."""
    import types

    from backends.energy import gibbs_samples, pretrain
    from netspec.config import read_train
    from netspec.data import load_dataset
    graph = load_graph(os.path.join(ROOT, "specs", f"{name}.yaml"))
    train = read_train(graph.train)
    data = load_dataset(train.data.as_dict(), tuple(graph[graph.inputs[0]].shape), seed=train.seed)
    state = pretrain(graph, data, {}, types.SimpleNamespace(), None)
    samples = gibbs_samples(graph, state, 100, 500, np.random.default_rng(1))
    digits = data.x_test.reshape(len(data.x_test), -1)
    distances = lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    spread = lambda a: distances(a, a)[np.triu_indices(len(a), 1)].mean()
    nearest = distances(samples, digits).min(axis=1).mean()
    print(f"{name}: samples' distance to the nearest test digit {nearest:.2f}, spread {spread(samples):.2f} "
          f"(test digits' spread {spread(digits[:100]):.2f})")
    assert nearest < 0.65 * spread(digits[:100])
    assert spread(samples) > 0.5 * spread(digits[:100])


def test_sample_defaults_to_pretrained_weights_and_notes_fine_tuned_ones(tmp_path):
    """Without --checkpoint, sample reads runs/<name>/pretrained.npz; a fine-tuned checkpoint gets a note."""
    import shutil
    spec = write(tmp_path, "dbm.yaml", TINY_DBM)
    missing = netspec("sample", spec, "-o", "x.png", cwd=tmp_path)
    assert missing.returncode == 1 and "neither runs/" in missing.stderr and "netspec train" in missing.stderr
    assert "Traceback" not in missing.stderr
    out = tmp_path / "runs" / "tiny_dbm"
    assert netspec("train", spec, "--backend", "numpy", "-o", str(out), "--json").returncode == 0
    default = netspec("sample", spec, "-o", "a.png", "--count", "4", "--steps", "5", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert "note:" not in default.stderr
    shutil.copy(out / "pretrained.npz", tmp_path / "pre.npz")      # the same weights, read explicitly
    explicit = netspec("sample", spec, "--checkpoint", str(tmp_path / "pre.npz"), "-o", str(tmp_path / "b.png"),
                       "--count", "4", "--steps", "5")
    assert explicit.returncode == 0 and (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    tuned = netspec("sample", spec, "--checkpoint", str(out / "checkpoint.npz"), "-o", str(tmp_path / "c.png"),
                    "--count", "4", "--steps", "5")
    assert tuned.returncode == 0 and "after supervised fine-tuning" in tuned.stderr
    assert str(out / "pretrained.npz") in tuned.stderr
