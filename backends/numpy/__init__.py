"""The NumPy backend: netspec's own CPU runtime (NumPy + float32 BLAS, Numba CPU JIT for window loops)."""
from __future__ import annotations

NAME = "numpy"


def available() -> tuple[bool, str]:
    try:
        import numba  # noqa: F401
    except ImportError as exc:
        return False, f"numba is not installed ({exc})"
    return True, "numpy + numba CPU"


def make_ops(dtype: str = "float32", rng=None):
    """The NumpyOps kernels for the shared runtime."""
    from .ops import NumpyOps
    set_threads()
    return NumpyOps(dtype, rng)


def train(graph, options) -> dict:
    """Train `graph` with the shared runtime trainer on NumpyOps; return the JSON result."""
    from backends.runtime.trainer import train as run_training
    return run_training(graph, options, make_ops, NAME)


def set_threads(count: int | None = None) -> None:
    """Limit BLAS and Numba to `count` threads (default: $NETSPEC_THREADS, else leave them as they are).

    On a shared machine spinning BLAS/Numba threads are the main cause of slow steps; pytest workers
    use one thread each.
    """
    import os
    if count is None:
        count = int(os.environ["NETSPEC_THREADS"]) if os.environ.get("NETSPEC_THREADS") else None
    if not count:
        return
    import numba
    numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(count)
    except ImportError:       # without threadpoolctl, OMP/OPENBLAS_NUM_THREADS still apply
        pass
