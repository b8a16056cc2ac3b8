"""What every backend's GAN run shares: checkpoint keys per network and the sample grid images.

NumPy and the standard library only: generated PyTorch GAN files inline this module, so that a checkpoint
from `python model.py` and one from `netspec train --backend numpy` have the same keys.
"""
from __future__ import annotations

import math

import numpy as np

from backends.checkpoint import atomic_write
from backends.plot import png_bytes

OPT_PREFIX = "__opt__/"
SAMPLES_PNG, SAMPLES_DIR = "samples.png", "samples"


def prefixed(net: str, arrays: dict) -> dict:
    """One network's parameters (or optimizer state '__opt__/...') under keys prefixed by the network:
    'linear_1.weight' -> 'generator.linear_1.weight', '__opt__/steps' -> '__opt__/generator.steps'."""
    return {(f"{OPT_PREFIX}{net}.{k[len(OPT_PREFIX):]}" if k.startswith(OPT_PREFIX) else f"{net}.{k}"): v
            for k, v in arrays.items()}


def unprefixed(net: str, arrays: dict) -> dict:
    """The inverse of `prefixed` for one network's entries (the others' are left out)."""
    out = {}
    for key, value in arrays.items():
        if key.startswith(f"{OPT_PREFIX}{net}."):
            out[OPT_PREFIX + key[len(OPT_PREFIX) + len(net) + 1:]] = value
        elif key.startswith(f"{net}."):
            out[key[len(net) + 1:]] = value
    return out


def image_shape(shape) -> tuple:
    """(height, width) to show a sample of per-sample `shape` as."""
    dims = [int(d) for d in shape if int(d) != 1] or [1]
    if len(dims) >= 2:
        return dims[-2], math.prod(dims) // dims[-2]
    side = math.isqrt(dims[0])
    return (side, side) if side * side == dims[0] else (1, dims[0])


def grid_image(samples, shape: tuple, scale: int):
    """An RGB uint8 grid of grey tiles with a 1-unit gap; each sample is min-max scaled unless in [0, 1]."""
    height, width = shape
    count = len(samples)
    cols = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    canvas = np.full(((height + 1) * rows + 1, (width + 1) * cols + 1), 0.25, dtype=np.float32)
    for index, sample in enumerate(samples):
        tile = np.asarray(sample, dtype=np.float32).reshape(height, width)
        if tile.min() < 0 or tile.max() > 1:
            tile = (tile - tile.min()) / max(float(tile.max() - tile.min()), 1e-8)
        r, c = divmod(index, cols)
        canvas[1 + r * (height + 1):1 + r * (height + 1) + height, 1 + c * (width + 1):1 + c * (width + 1) + width] = tile
    canvas = np.kron(canvas, np.ones((scale, scale), dtype=np.float32))
    grey = (np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def sample_grid(samples: np.ndarray, value_range, scale: int | None = None) -> np.ndarray:
    """The grid image of samples that live in `value_range` (mapped to black..white, clipped)."""
    low, high = (float(v) for v in value_range)
    unit = np.clip((np.asarray(samples, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    shape = image_shape(unit.shape[1:])
    return grid_image(unit, shape, scale or max(1, 32 // max(shape)))


def write_grid(paths, samples: np.ndarray, value_range) -> None:
    """Write the sample grid as PNG to every path (atomically)."""
    data = png_bytes(sample_grid(samples, value_range))
    for path in paths:
        atomic_write(path, lambda handle: handle.write(data))
