"""The device: availability, launch shapes, float32 constants and host/device transfers.

Kernels use grid-stride loops, so any launch shape is correct; the shape only sets speed. On a
GPU launches are wide; under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1), where every thread
is a Python thread, they are a few threads wide so that tests stay quick while still
exercising more than one block and more than one thread.
"""
from __future__ import annotations

import os

import numpy as np

SIM_HINT = ("run on the CUDA simulator with NUMBA_ENABLE_CUDASIM=1 (slow, small specs only), "
            "e.g. NUMBA_ENABLE_CUDASIM=1 netspec train SPEC --backend numba-cuda, or use --backend numpy")


def simulator_requested() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def available() -> tuple[bool, str]:
    """(True, device description) when kernels can run, else (False, why and what to do)."""
    try:
        from numba import cuda
    except ImportError as exc:
        return False, f"numba with CUDA support is not installed ({exc}); pip install numba-cuda"
    if cuda.config.ENABLE_CUDASIM:
        return True, "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        if cuda.is_available():
            name = cuda.get_current_device().name
            return True, name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # noqa: BLE001 - a broken driver is reported, not raised
        return False, f"no usable CUDA GPU ({exc})"
    return False, "no CUDA GPU found"


def is_simulator() -> bool:
    from numba import cuda
    return bool(cuda.config.ENABLE_CUDASIM)


SIMULATOR = simulator_requested()


def _patch_simulator() -> None:
    """Make the simulator fast and safe for the shared-memory kernels.

    The simulator runs each CUDA thread as a Python thread that meets the others at barriers; a
    short GIL switch interval makes those hand-overs about ten times faster. It also exposes a race
    in the simulator's cuda.shared.array (check-then-insert without a lock, so two threads of one
    block can get different "shared" arrays); the allocation is redone here under a lock.
    """
    import sys
    import threading

    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    original = kernelapi.FakeCUDAShared.array
    if getattr(original, "netspec_locked", False):
        return
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:
            return original(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            found = self._allocations.get(key)
            if found is None:
                found = self._allocations[key] = np.empty(shape, dtype)
        return found

    array.netspec_locked = True
    kernelapi.FakeCUDAShared.array = array
    sys.setswitchinterval(min(sys.getswitchinterval(), 1e-5))


if SIMULATOR:
    _patch_simulator()

# Launch geometry (compile-time constants of the kernels that use shared memory).
THREADS = 2 if SIMULATOR else 256          # threads per block of 1-D kernels
MAX_BLOCKS = 2 if SIMULATOR else 4096
RNG_THREADS = 4 if SIMULATOR else 64 * 256  # one xoroshiro128p state per thread of random kernels
REDUCE_THREADS = 2 if SIMULATOR else 256   # threads of a reduction block (a power of two)

F0 = np.float32(0.0)
F1 = np.float32(1.0)
F2 = np.float32(2.0)
FHALF = np.float32(0.5)


def grid1d(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride kernel over n items."""
    blocks = max(1, min(MAX_BLOCKS, -(-int(n) // THREADS)))
    return blocks, THREADS


_RECORD: list | None = None


def record_launches(enabled: bool = True) -> list:
    """Start (or stop) recording (kernel name, argument dtypes) of every launch; returns the record."""
    global _RECORD
    _RECORD = [] if enabled else None
    return _RECORD if _RECORD is not None else []


def launch(kernel, config, *args):
    """Launch `kernel[config](*args)`, turning Python floats into float32 so nothing promotes to float64."""
    args = tuple(np.float32(a) if isinstance(a, float) else a for a in args)
    if _RECORD is not None:
        _RECORD.append((kernel_name(kernel), tuple(_dtype_of(a) for a in args)))
    kernel[config](*args)


def kernel_name(kernel) -> str:
    """The Python name of a @cuda.jit kernel (on a GPU and under the simulator)."""
    func = getattr(kernel, "py_func", None) or getattr(kernel, "fn", None)
    return getattr(func, "__name__", type(kernel).__name__)


def _dtype_of(arg) -> str:
    dtype = getattr(arg, "dtype", None)
    if dtype is not None:
        return str(np.dtype(dtype)) if not getattr(dtype, "names", None) else "rng-state"
    if isinstance(arg, (bool, np.bool_)):
        return "bool"
    if isinstance(arg, (int, np.integer)):
        return "int"
    return type(arg).__name__


def to_device(array, dtype=np.float32):
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(array, dtype=dtype))


def empty(shape, dtype=np.float32):
    from numba import cuda
    return cuda.device_array(shape, dtype=dtype)


def to_host(array) -> np.ndarray:
    return array.copy_to_host()
