"""Several inputs on Numba-CUDA under the CUDA simulator: a tiny captioning spec trains on digits_captions
(teacher forcing, padding ignored) and its loss matches NumPy's on the same batch.

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

    from backends.numba_cuda.ops import CudaOps
    from backends.numpy.ops import NumpyOps
    from backends.runtime import Model, init_state
    from netspec import load_graph

    TINY = """name: tiny_captioner
vars: {vocab: 15, embed: 6, hidden: 8}
inputs:
  image: {shape: [64]}
  tokens: {shape: [T], dtype: int64}
layers:
  - {type: linear, name: img_embed, units: "${embed}", from: image}
  - {type: reshape, name: img_step, shape: [1, "${embed}"]}
  - {type: embedding, name: word_embed, vocab: "${vocab}", dim: "${embed}", from: tokens}
  - {type: concat, name: steps, axis: 0, from: [img_step, word_embed]}
  - {type: lstm, name: decoder, hidden: "${hidden}", return_sequences: true}
  - {type: linear, name: logits, units: "${vocab}"}
train: {optimizer: {type: adam, lr: 0.01}, batch_size: 16, epochs: 1,
        data: {name: digits_captions, samples: 32}}
"""

    def _spec(tmp_path):
        path = tmp_path / "tiny_captioner.yaml"
        path.write_text(TINY)
        return path

    def test_padding_ignored_loss_matches_numpy(tmp_path):
        graph = load_graph(str(_spec(tmp_path)))
        state = init_state(graph, 0)
        rng = np.random.default_rng(0)
        x = {"image": rng.random((3, 64)).astype(np.float32), "tokens": rng.integers(0, 15, (3, 4))}
        from netspec.multidata import Arrays
        y = rng.integers(0, 15, (3, 4))
        y[0, 2:] = -100                                     # padding: never scored
        results = []
        for ops in (NumpyOps("float32", np.random.default_rng(0)), CudaOps("float32", np.random.default_rng(0))):
            model = Model(graph, ops, state)
            loss, _outs, _labels, grads = model.train_step(Arrays(x), y)
            results.append((loss, {k: np.asarray(ops.to_numpy(v)) for k, v in grads.items()}))
        assert abs(results[0][0] - results[1][0]) < 1e-5
        for key, value in results[0][1].items():
            np.testing.assert_allclose(results[1][1][key], value, atol=1e-5)

    def test_cli_trains_two_inputs_on_the_simulator(tmp_path):
        env = dict(os.environ, PYTHONPATH=ROOT)
        proc = subprocess.run([sys.executable, "-m", "netspec", "train", str(_spec(tmp_path)), "--backend",
                               "numba-cuda", "--out", str(tmp_path / "run"), "--json"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["epochs"] == 1 and 0 <= result["test_accuracy"] <= 1 and np.isfinite(result["final_loss"])
        from netspec.multidata import digits_captions
        _, test, _ = digits_captions(0.2, 0)
        np.savez(tmp_path / "some.npz", image=test["image"][:3])
        captions = []
        for backend in ("numba-cuda", "numpy"):          # beam search on the GPU backend: the same captions
            proc = subprocess.run([sys.executable, "-m", "netspec", "generate", str(tmp_path / "tiny_captioner.yaml"),
                                   "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"), "--input",
                                   str(tmp_path / "some.npz"), "--beam", "2", "--max-length", "6", "--backend",
                                   backend, "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=900, check=False)
            assert proc.returncode == 0, proc.stderr
            captions.append(json.loads(proc.stdout)["captions"])
        assert captions[0] == captions[1] and len(captions[0]) == 3
