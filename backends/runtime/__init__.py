"""The backend-neutral runtime: executor, trainer, optimizers, schedules, initialisers.

An executing backend supplies one `Ops` subclass (backends/runtime/ops.py) with its array kernels;
everything else here is shared by the NumPy and Numba-CUDA backends.
"""
from .executor import Executor
from .init import init_state
from .model import Model
from .ops import LAYER_OPS, Ops
from .trainer import load_model, train

__all__ = ["LAYER_OPS", "Executor", "Model", "Ops", "init_state", "load_model", "train"]
