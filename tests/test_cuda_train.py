"""Numba-CUDA end to end under the CUDA simulator: a tiny CNN, GRU and RBM stack learn; the CLI trains.

Re-launched in its own process with NUMBA_ENABLE_CUDASIM=1 (tests/cuda_sim.py) unless a GPU is here.
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

    import numpy as np

    from backends.numba_cuda import device
    from backends.numba_cuda.ops import CudaOps
    from backends.runtime import Model, init_state
    from backends.runtime.optim import Optimizer
    from netspec import load_graph
    from netspec.config import read_train

    CNN = """name: tiny_cnn
input: {shape: [1, 6, 6]}
layers:
  - {type: conv2d, filters: 3, kernel: 3, padding: 1, activation: relu}
  - {type: maxpool2d, kernel: 2}
  - {type: batchnorm}
  - flatten
  - {type: dropout, p: 0.1}
  - {type: linear, units: 3}
train: {optimizer: {type: sgd, lr: 0.1, momentum: 0.9}, batch_size: 8, epochs: 1,
        data: {name: synthetic, classes: 3, samples: 24, test_fraction: 0.25}}
"""
    GRU = """name: tiny_gru
input: {shape: [4, 3]}
layers:
  - {type: gru, hidden: 4}
  - {type: linear, units: 2}
train: {optimizer: {type: adam, lr: 0.05}, batch_size: 8}
"""

    def _steps(tmp_path, text, x, y, steps):
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        graph = load_graph(str(path))
        cfg = read_train(graph.train)
        ops = CudaOps("float32", np.random.default_rng(0))
        model = Model(graph, ops, init_state(graph, 0))
        keys = [k for k, (_, trainable) in graph.state_layout().items() if trainable]
        optimizer = Optimizer(ops, cfg.optimizer, keys)
        losses = []
        for _ in range(steps):
            loss, _outs, _labels, grads = model.train_step(x, y)
            optimizer.step(model.state, grads)
            losses.append(loss)
        return losses, model

    def test_tiny_cnn_learns(tmp_path):
        rng = np.random.default_rng(0)
        y = np.arange(8) % 3
        x = (rng.standard_normal((8, 1, 6, 6)) * 0.3 + y[:, None, None, None]).astype(np.float32)
        losses, model = _steps(tmp_path, CNN, x, y, 6)
        assert losses[-1] < losses[0] * 0.8, losses
        state = model.state_numpy()
        assert all(v.dtype in (np.float32, np.int64) for v in state.values())

    def test_tiny_gru_learns(tmp_path):
        rng = np.random.default_rng(1)
        y = np.arange(8) % 2
        x = (rng.standard_normal((8, 4, 3)) * 0.3 + (2 * y - 1)[:, None, None]).astype(np.float32)
        losses, _ = _steps(tmp_path, GRU, x, y, 6)
        assert losses[-1] < losses[0] * 0.8, losses

    def test_rbm_stack_cd1_lowers_reconstruction_error():
        from backends.numba_cuda.rbm import DeviceRBM
        rng = np.random.default_rng(0)
        prototypes = rng.random((2, 12)) < 0.5
        data = (prototypes[np.arange(16) % 2] ^ (rng.random((16, 12)) < 0.05)).astype(np.float32)
        layer_input = device.to_device(data)
        for visible, hidden in ((12, 6), (6, 4)):          # a two-layer DBN, greedily
            params = {"weight": (rng.standard_normal((hidden, visible)) * 0.01).astype(np.float32),
                      "bias": np.zeros(hidden, np.float32), "visible_bias": np.zeros(visible, np.float32)}
            rbm = DeviceRBM(params, seed=1)
            before = rbm.reconstruction_error(layer_input)
            for _ in range(15):
                rbm.cd_step(layer_input, k=1, lr=0.5, momentum=0.5)
            after = rbm.reconstruction_error(layer_input)
            assert after < before * 0.9, (visible, hidden, before, after)
            layer_input = rbm.hidden(layer_input, draw=False)[0]

    def test_kernel_arguments_stay_float32(tmp_path):
        """Every float argument of every kernel launched in a CNN and a GRU training step is float32."""
        rng = np.random.default_rng(0)
        record = device.record_launches(True)
        try:
            _steps(tmp_path, CNN, rng.standard_normal((4, 1, 6, 6)).astype(np.float32), np.arange(4) % 3, 1)
            _steps(tmp_path, GRU, rng.standard_normal((4, 4, 3)).astype(np.float32), np.arange(4) % 2, 1)
        finally:
            device.record_launches(False)
        assert len(record) > 20
        floats = {d for _, dtypes in record for d in dtypes if "float" in d}
        assert floats == {"float32"}, [(name, d) for name, d in record if any("float64" in x for x in d)][:5]

    def test_cli_trains_and_writes_a_checkpoint_numpy_can_load(tmp_path):
        spec = tmp_path / "tiny_cnn.yaml"
        spec.write_text(CNN)
        out = tmp_path / "run"
        proc = subprocess.run([sys.executable, "-m", "netspec", "train", str(spec), "--backend", "numba-cuda",
                               "--json", "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["backend"] == "numba-cuda" and np.isfinite(result["final_loss"])
        # the same per-epoch record and plot as every other backend (backends/loop.py)
        row = json.loads((out / "metrics.jsonl").read_text())
        assert list(row) == ["epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                             "samples_per_second"]
        assert (out / "training.png").read_bytes().startswith(b"\x89PNG")
        from backends import checkpoint
        from backends.numpy import make_ops
        from backends.runtime import load_model
        graph = load_graph(str(spec))
        model = load_model(graph, result["checkpoint"], make_ops)
        _, _, meta = checkpoint.load(result["checkpoint"])
        assert meta["backend"] == "numba-cuda"
        assert model.predict(np.zeros((2, 1, 6, 6), np.float32)).shape == (2, 3)

    def test_verify_includes_numba_cuda(tmp_path):
        from backends.verify import verify
        spec = tmp_path / "tiny_cnn.yaml"
        spec.write_text(CNN)
        report = verify(load_graph(str(spec)), batch=2, only=["numba-cuda"])
        row = report["backends"]["numba-cuda"]
        assert "skipped" not in row, row
        assert max(row["output_max_rel"], row["grad_max_rel"]) < 1e-4, row
