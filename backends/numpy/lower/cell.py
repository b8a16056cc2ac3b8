"""`cell`: the backend-neutral lowering (backends/runtime/cell.py) over NumPy arrays."""
from backends.runtime.cell import Cell

from . import NUMPY

NUMPY.layer("cell")(Cell)
