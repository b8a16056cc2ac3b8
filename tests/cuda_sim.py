"""Run CUDA tests under the Numba CUDA simulator in their own process (or in-process on a real GPU).

The simulator is chosen when numba is first imported, and other test modules import numba
early, so a test module that finds itself without the simulator (and without a GPU) re-runs
itself in a fresh interpreter with NUMBA_ENABLE_CUDASIM=1 and reports that run as one test.
"""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def active() -> bool:
    """True when CUDA kernels can run in this process (simulator already chosen, or a real GPU)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" and "numba" not in sys.modules:
        return True
    try:
        from numba import cuda
    except ImportError:
        return False
    return bool(cuda.config.ENABLE_CUDASIM) or cuda.is_available()


def relaunch(test_file: str, timeout: int = 600):
    """A pytest test that runs `test_file` under the simulator in a subprocess and fails with its output."""
    def test_under_cuda_simulator():
        env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:xdist", "-p", "no:cacheprovider",
                               test_file], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"simulator run of {test_file} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return test_under_cuda_simulator
