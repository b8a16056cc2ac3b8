"""Backends behind one interface: `numpy` and `numba_cuda` run the IR; `torch` generates PyTorch source.

Each backend package exposes `NAME`, `available() -> (bool, reason)` and
`train(graph, options: TrainOptions) -> dict`; see `backends/base.py`.
"""
from __future__ import annotations

import importlib

BACKENDS = {"numpy": "backends.numpy", "numba-cuda": "backends.numba_cuda", "torch": "backends.torch"}


def get_backend(name: str):
    """The backend module for a command-line name ('numpy', 'numba-cuda', 'torch')."""
    from netspec.errors import UsageError, did_you_mean
    if name not in BACKENDS:
        raise UsageError(f"unknown backend '{name}'; " + (did_you_mean(name, BACKENDS) or
                         f"choose from {', '.join(BACKENDS)}"))
    return importlib.import_module(BACKENDS[name])
