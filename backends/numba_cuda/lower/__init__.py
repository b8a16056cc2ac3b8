"""The Numba-CUDA backend's layer lowerings, one module per compiler/layers family.

Each entry's forward/backward run on device arrays with the CudaOps as first argument (see
backends/runtime/ops.py); a training step never copies an activation to the host.
"""
from backends.lowering import Lowerings

CUDA = Lowerings("numba-cuda", "backends.numba_cuda.lower")
