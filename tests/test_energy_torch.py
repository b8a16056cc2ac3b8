"""The PyTorch side of the energy models: same free energy and CD gradients as NumPy, generated pretraining."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.energy.rbm import RBM
from backends.energy.units import Noise
from backends.torch import energy_runtime as tr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("units", [("bernoulli", "bernoulli"), ("gaussian", "bernoulli"), ("bernoulli", "relu"),
                                   ("bernoulli", "gaussian")])
@pytest.mark.parametrize("persistent", [False, True])
def test_free_energy_and_cd_gradient_match_numpy(units, persistent):
    rng = np.random.default_rng(0)
    rbm = RBM(12, 7, *units, dtype=np.float64, init_scale=0.3, rng=rng)
    rbm.bias, rbm.visible_bias = rng.normal(0, 0.2, 7), rng.normal(0, 0.2, 12)
    v0 = (rng.random((5, 12)) < 0.4).astype(np.float64)
    chain = (rng.random((5, 12)) < 0.5).astype(np.float64) if persistent else None
    recorder = Noise(np.random.default_rng(1), record=True)
    dw, db, dc, v = rbm.cd_gradient(v0, 3, recorder, chain)
    replay = [r.copy() for r in recorder.drawn]
    assert replay, "the numpy sampler must record its noise"
    t = [torch.from_numpy(a) for a in (rbm.weight, rbm.bias, rbm.visible_bias)]
    tdw, tdb, tdc, tv = tr.rbm_cd_gradient(*t, torch.from_numpy(v0), 3, noise=[torch.from_numpy(r) for r in replay],
                                           chain=None if chain is None else torch.from_numpy(chain), units=units)
    for mine, theirs in ((dw, tdw), (db, tdb), (dc, tdc), (v, tv)):
        assert np.allclose(mine, theirs.numpy(), atol=1e-10)
    assert np.allclose(rbm.free_energy(v0), tr.rbm_free_energy(*t, torch.from_numpy(v0), *units).numpy(), atol=1e-9)


def _compile_and_run(tmp_path, spec_text, name):
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(spec_text)
    model = tmp_path / "model.py"
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "netspec", "compile", str(spec), "--target", "torch", "-o",
                           str(model)], cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    env.pop("PYTHONPATH")          # the generated file stands alone
    run = subprocess.run([sys.executable, str(model), "--out", str(tmp_path / "run"), "--json", "-q"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_generated_dbm_and_autoencoder_pretrain(tmp_path):
    from test_energy_cli import TINY_AE, TINY_DBM

    from backends import checkpoint
    from netspec import load_graph
    run = _compile_and_run(tmp_path, TINY_DBM, "tiny_dbm")
    assert "dbm joint epoch 2/2" in run.stderr and "pretraining rbm_3" in run.stderr
    # the same pretraining outputs as the NumPy backend: pretrained.npz and pretrain.jsonl, and sample reads them
    graph = load_graph(str(tmp_path / "tiny_dbm.yaml"))
    state, _, meta = checkpoint.load(str(tmp_path / "run" / "pretrained.npz"))
    checkpoint.check_layout(graph, state, "pretrained")
    assert meta["phase"] == "pretrained" and meta["method"] == "dbm" and meta["source_hash"] == graph.source_hash
    rows = [json.loads(line) for line in (tmp_path / "run" / "pretrain.jsonl").read_text().splitlines()]
    assert [(r["layer"], r["epoch"]) for r in rows] == [("rbm_2", 1), ("rbm_2", 2), ("rbm_3", 1), ("rbm_3", 2),
                                                         ("dbm", 1), ("dbm", 2)]
    assert all(np.isfinite(r["recon_error"]) for r in rows) and "pseudo_likelihood" in rows[0]
    png = tmp_path / "samples.png"
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "netspec", "sample", str(tmp_path / "tiny_dbm.yaml"), "--checkpoint",
                           str(tmp_path / "run" / "pretrained.npz"), "-o", str(png), "--count", "4", "--steps", "5"],
                          cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = tmp_path / "ae"                     # a run directory of its own: "run" holds the DBM's run
    other.mkdir()
    run = _compile_and_run(other, TINY_AE, "tiny_ae")
    state, _, _ = checkpoint.load(str(other / "run" / "checkpoint.npz"))
    checkpoint.check_layout(load_graph(str(other / "tiny_ae.yaml")), state, "ckpt")
    assert "pretraining code" in run.stderr


def test_netspec_verify_covers_rbm_stacks():
    from backends.verify import verify
    from netspec import load_graph
    report = verify(load_graph(os.path.join(ROOT, "specs", "dbn_digits.yaml")), batch=4, only=["torch"],
                    dtype="float64")
    layers = report["energy"]["layers"]
    assert list(layers) == ["rbm_2", "rbm_3"]
    assert all(row["noise_arrays"] >= 2 for row in layers.values())
    assert report["energy"]["max_difference"] < 1e-10


class _Interrupted(Exception):
    pass


def _generated_module(tmp_path, spec_text, name):
    import importlib.util
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(spec_text)
    target = tmp_path / f"{name}_model.py"
    subprocess.run([sys.executable, "-m", "netspec", "compile", str(spec), "--target", "torch", "-o", str(target)],
                   check=True, cwd=ROOT, capture_output=True)
    loader = importlib.util.spec_from_file_location(f"{name}_model", target)
    module = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = module           # its dataclasses look themselves up there
    loader.loader.exec_module(module)
    return module


def _pretrain(module, out, resume=False, stop_after=None):
    """Run the generated pretrain_rbms; stop_after=n raises when the n-th epoch line is printed (before its save)."""
    from types import SimpleNamespace
    seen = []

    def interrupting_print(message, file=None):
        if stop_after is not None and message.startswith(("pretrain ", "dbm joint epoch")):
            seen.append(message)
            if len(seen) == stop_after:
                raise _Interrupted(message)

    module.print = interrupting_print           # the generated log() prints each epoch's line
    x = (np.random.default_rng(0).random((200, 64)) < 0.3).astype(np.float32)
    torch.manual_seed(0)                        # the same initial weights for the layers not pretrained
    model = module.build_model()
    module.pretrain_rbms(model, SimpleNamespace(x_train=x, x_test=x[:40]), module.SPEC, torch.device("cpu"),
                         out=str(out), resume=resume)
    del module.print
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


@pytest.mark.parametrize("name, stops", [("dbn", (2, 5)), ("dbm", (3, 4))])
def test_generated_pretraining_resumes_where_it_was_killed(tmp_path, name, stops):
    from test_energy_resume import DBM, DBN
    module = _generated_module(tmp_path, {"dbn": DBN, "dbm": DBM}[name], name)
    whole = _pretrain(module, tmp_path / "whole")
    out = tmp_path / "cut"
    for stop in stops:              # interrupted twice: inside the first RBM, then later (DBM: in joint training)
        with pytest.raises(_Interrupted):
            _pretrain(module, out, resume=True, stop_after=stop)
        assert (out / "pretrain_state.npz").exists()
    resumed = _pretrain(module, out, resume=True)
    assert sorted(resumed) == sorted(whole)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    rows = [json.loads(line) for line in (out / "pretrain.jsonl").read_text().splitlines()]
    assert rows == [json.loads(line) for line in (tmp_path / "whole" / "pretrain.jsonl").read_text().splitlines()]
    with pytest.raises(_Interrupted):
        _pretrain(module, tmp_path / "again", stop_after=2)
    again = _pretrain(module, tmp_path / "again")   # without resume: from scratch, the same as a clean run
    for key in whole:
        np.testing.assert_array_equal(again[key], whole[key], err_msg=key)
