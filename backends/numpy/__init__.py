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
    keep_freed_memory()
    return NumpyOps(dtype, rng)


def keep_freed_memory() -> None:
    """Ask glibc to keep freed blocks for reuse instead of returning them to the OS.

    A training step allocates and frees the same multi-megabyte arrays (im2col columns, activations,
    gradients) every time; with glibc's defaults the heap is trimmed and big blocks are mmap'ed afresh,
    so every step page-faults them in again (measured on LeNet-5: about 2,800 faults and a third of the
    step's CPU time in the kernel). Process-wide, like the thread settings; a no-op off glibc.
    """
    import ctypes
    import ctypes.util
    import sys
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-1, 1 << 30)       # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap top
        libc.mallopt(-3, 1 << 25)       # M_MMAP_THRESHOLD: serve blocks up to 32 MiB from the heap
    except (OSError, AttributeError):   # not glibc (musl, ...): keep the allocator's defaults
        pass


def train(graph, options) -> dict:
    """Train `graph` with the shared runtime trainer on NumpyOps; return the JSON result."""
    from backends.runtime.trainer import train as run_training
    return run_training(graph, options, make_ops, NAME)


_BLAS_THREADS: list[int] = []        # the BLAS thread count set_blas_threads(None) restores


def set_threads(count: int | None = None) -> None:
    """Limit BLAS and Numba to `count` threads (default: $NETSPEC_THREADS, else leave them as they are).

    On a shared machine spinning BLAS/Numba threads are the main cause of slow steps.
    """
    from backends.loop import thread_count
    count = thread_count(count)
    if not count:
        return
    import numba
    numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(count)
        _BLAS_THREADS[:] = [count]           # what set_blas_threads(None) goes back to
    except ImportError:       # a dependency; without it OMP/OPENBLAS_NUM_THREADS still apply
        pass


def set_blas_threads(count: int | None) -> bool:
    """Set the BLAS libraries' thread count process-wide (None: back to set_threads' count, else to what BLAS
    had before the first call).

    False when threadpoolctl is missing, so the count cannot be changed (the caller keeps BLAS's threads).
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return False
    if not _BLAS_THREADS:
        _BLAS_THREADS.append(max([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"],
                                 default=1))
    threadpool_limits(_BLAS_THREADS[0] if count is None else count, user_api="blas")
    return True


def train_gan(networks, options) -> dict:
    """Train a several-network spec's GAN (train: {method: gan}) on NumpyOps."""
    from backends.runtime.gan import train_gan as run_gan
    return run_gan(networks, options, make_ops, NAME)
