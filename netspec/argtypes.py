"""Argument types for command lines: counts that must be positive or not negative.

Shared by `netspec` and generated model files (inlined there), so a bad count is a usage error (exit 2)
with argparse's `usage:` line everywhere, never a crash later.
"""
from __future__ import annotations

import argparse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None


def positive_int(text: str) -> int:
    """An int of at least 1 (batch sizes, epochs, steps)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


def non_negative_int(text: str) -> int:
    """An int of at least 0 (seeds, depths)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, found {value}")
    return value


def random_seed(text: str) -> int:
    """A random seed: 0 to 2**32 - 1, the range every backend's generator accepts."""
    value = non_negative_int(text)
    if value >= 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be below 2**32, found {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite float of at least 0 (tolerances)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, found {text}")
    return value
