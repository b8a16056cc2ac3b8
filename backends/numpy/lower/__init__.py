"""The NumPy backend's layer lowerings: one module per compiler family (compiler/layers/<family>.py), each
registering its types' kernels in NUMPY (backends/lowering.py; the contract is in backends/runtime/ops.py)."""
from backends.lowering import Lowerings

NUMPY = Lowerings("numpy", "backends.numpy.lower")
