"""Numba-CUDA trains a GAN (under the CUDA simulator): the same steps as the NumPy backend, to float tolerance.

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
    from gan_specs import TINY_GAN

    from backends import checkpoint

    def _train(spec, out, backend):
        env = dict(os.environ, PYTHONPATH=ROOT, NETSPEC_THREADS="1")
        proc = subprocess.run([sys.executable, "-m", "netspec", "train", str(spec), "--backend", backend, "-o", str(out),
                               "--epochs", "1", "--max-steps", "3", "--json"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def test_cuda_gan_steps_match_numpy(tmp_path):
        spec = tmp_path / "tiny_gan.yaml"
        spec.write_text(TINY_GAN)
        cuda = _train(spec, tmp_path / "cuda", "numba-cuda")
        cpu = _train(spec, tmp_path / "numpy", "numpy")
        assert cuda["backend"] == "numba-cuda"
        a, extra, meta = checkpoint.load(cuda["checkpoint"])
        b, _, _ = checkpoint.load(cpu["checkpoint"])
        assert meta["partial"] and meta["method"] == "gan"
        assert set(a) == set(b) and "generator.conv_transpose2d_3.weight" in a
        assert "__opt__/discriminator.steps" in extra and int(extra["__opt__/discriminator.steps"]) == 3
        assert int(extra["__opt__/generator.steps"]) == 1          # d_steps: 2
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)
