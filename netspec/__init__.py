"""netspec: declarative neural-network definitions, compiled to NumPy, Numba-CUDA and PyTorch."""
from .api import analyse, load_graph
from .errors import Diagnostic, SpecError
from .spec import load

__version__ = "0.1.0"
__all__ = ["Diagnostic", "SpecError", "__version__", "analyse", "load", "load_graph"]
