"""`netspec train --backend numba-cuda` pretrains its RBM stack on the device (CUDA simulator in CI).

The device engine runs under backends.energy's RBMTrainer (shared schedule and monitors): CD-k and PCD
updates learn as the host engine's do; the CLI run writes the
same pretraining outputs, and a cut run resumes. Re-launched under NUMBA_ENABLE_CUDASIM=1 unless a GPU is here.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_sim import ROOT, active, relaunch

if not active():
    test_under_cuda_simulator = relaunch(__file__)
else:
    import json
    import subprocess
    from types import SimpleNamespace

    import numpy as np
    import pytest

    from backends.energy import pretrain
    from backends.energy.rbm import RBM, RBMConfig, RBMTrainer
    from backends.numba_cuda.rbm import DeviceEngine
    from netspec import load_graph

    STACK = """name: tiny_cuda_dbn
input: {shape: [16]}
layers:
  - {type: rbm, hidden: 8}
  - {type: rbm, hidden: 4, method: pcd, chains: 8}
  - {type: linear, units: 2}
pretrain: {method: cd, epochs: 2, lr: 0.1, batch_size: 8}
train: {epochs: 1, batch_size: 8, optimizer: {type: sgd, lr: 0.1},
        data: {name: synthetic, classes: 2, samples: 32, test_fraction: 0.25}}
"""

    def _patterns(count=32, seed=0):
        """Two noisy binary prototypes: an RBM lowers their reconstruction error quickly."""
        rng = np.random.default_rng(seed)
        protos = (rng.random((2, 16)) < 0.5).astype(np.float32)
        x = protos[rng.integers(0, 2, count)]
        flip = rng.random(x.shape) < 0.05
        return np.where(flip, 1 - x, x).astype(np.float32)

    @pytest.mark.parametrize("persistent", [False, True])
    def test_device_engine_learns_like_the_host_engine(persistent):
        data = _patterns()
        cfg = RBMConfig(lr=0.5, epochs=3, batch_size=8, persistent=persistent, weight_decay=0.0, momentum_switch=1)
        errors = {}
        for on_device in (False, True):
            rbm = RBM(16, 8, rng=np.random.default_rng(0))
            rbm.init_visible_bias(data)
            before = rbm.reconstruction_error(data)
            rng = np.random.default_rng(0)
            trainer = RBMTrainer(rbm, cfg, rng, DeviceEngine.factory(rbm, cfg, rng, None) if on_device else None)
            assert isinstance(trainer.engine, DeviceEngine) == on_device
            rows = []
            trainer.fit(data, rows.append)
            assert [r["epoch"] for r in rows] == [1, 2, 3]
            errors[on_device] = rows[-1]["recon_error"]
        assert abs(errors[True] - errors[False]) < 0.25 * errors[False], (before, errors)
        assert persistent or errors[True] < before, (before, errors)     # CD lowers it; PCD need not
        saved = trainer.state()              # the host RBM holds the device's parameters after sync
        np.testing.assert_array_equal(saved["weight"], rbm.weight)
        assert ("chain" in saved) == persistent and saved["device_rng"].dtype == np.uint64

    def test_netspec_train_numba_cuda_pretrains_on_the_device(tmp_path):
        spec = tmp_path / "dbn.yaml"
        spec.write_text(STACK)
        env = dict(os.environ, PYTHONPATH=ROOT)
        out = tmp_path / "run"
        done = subprocess.run([sys.executable, "-m", "netspec", "train", str(spec), "--backend", "numba-cuda",
                               "--out", str(out)], cwd=ROOT, capture_output=True, text=True, env=env, check=False,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "pretraining runs on the CUDA device" in done.stderr
        rows = [json.loads(line) for line in (out / "pretrain.jsonl").read_text().splitlines()]
        assert [(r["layer"], r["epoch"]) for r in rows] == [("rbm_1", 1), ("rbm_1", 2), ("rbm_2", 1), ("rbm_2", 2)]
        assert (out / "pretrained.npz").exists() and (out / "checkpoint.npz").exists()

    def test_device_pretraining_resumes_exactly(tmp_path):
        spec = tmp_path / "dbn.yaml"
        spec.write_text(STACK)
        graph = load_graph(str(spec))
        dataset = SimpleNamespace(x_train=_patterns(), x_test=_patterns(8, 1))

        def run(out, resume=False, stop=None):
            seen = []

            def log(message):
                seen.append(message.startswith("pretrain "))
                if stop is not None and sum(seen) == stop:
                    raise KeyboardInterrupt
            options = SimpleNamespace(out_dir=str(out), resume=resume, dtype="float32")
            return pretrain(graph, dataset, {}, options, log, backend="numba-cuda")

        whole = run(tmp_path / "whole")
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / "cut", stop=4)    # rbm_1's second epoch: its first (PCD chains) is saved
        resumed = run(tmp_path / "cut", resume=True)
        for key in whole:
            np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
