"""The Numba-CUDA backend: the shared runtime (backends/runtime) driven by CudaOps kernels.

`netspec train SPEC --backend numba-cuda` needs an NVIDIA GPU with CUDA, or the CUDA simulator
(NUMBA_ENABLE_CUDASIM=1: every kernel runs as Python threads, slow, for tests and small specs).
"""
from __future__ import annotations

from .device import SIM_HINT
from .device import available as _available

NAME = "numba-cuda"


def available() -> tuple[bool, str]:
    """(True, device) when kernels can run here, else (False, the reason and how to run anyway)."""
    ok, reason = _available()
    return (ok, reason) if ok else (False, f"{reason}; {SIM_HINT}")


def make_ops(dtype: str = "float32", rng=None):
    """A CudaOps (raises a clear UserError when no GPU or simulator is present)."""
    require()
    from .ops import CudaOps
    return CudaOps(dtype or "float32", rng)


def require() -> None:
    from netspec.errors import UserError
    ok, reason = available()
    if not ok:
        raise UserError(f"backend '{NAME}' cannot run: {reason}")


def train(graph, options) -> dict:
    """Train `graph` with the shared runtime trainer on CUDA kernels (see backends.base.TrainOptions)."""
    require()
    from backends.runtime import train as run
    return run(graph, options, make_ops, NAME)


def load_model(graph, checkpoint_path: str, dtype: str | None = None):
    """A runtime Model holding a checkpoint's parameters on the device."""
    require()
    from backends.runtime import load_model as load
    return load(graph, checkpoint_path, make_ops, "float32")


def train_gan(networks, options) -> dict:
    """Train a several-network spec's GAN (train: {method: gan}) on CUDA kernels."""
    require()
    from backends.runtime.gan import train_gan as run_gan
    return run_gan(networks, options, make_ops, NAME)
