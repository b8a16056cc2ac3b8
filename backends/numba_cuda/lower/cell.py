"""`cell`: the backend-neutral lowering (backends/runtime/cell.py) over device arrays."""
from backends.runtime.cell import Cell

from . import CUDA

CUDA.layer("cell")(Cell)
