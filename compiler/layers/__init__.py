"""Built-in layer types, one module per family; importing this package registers them all."""
from . import activation, attention, cell, conv, dense, energy, formula, io, merge, norm, pool, recurrent, shape  # noqa: F401
