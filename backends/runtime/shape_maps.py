"""Index maps of the shape layers with PyTorch's rules, shared by the backends' kernels.

slice, split, pad and upsample move values along each axis on its own: output position j of an axis
reads input positions `index[t, j]` weighted by `weight[t, j]` (taps t: one for slice, split, pad and
nearest, two for bilinear), and index -1 reads the fill value (constant padding). A layer is a sequence
of such `AxisMap`s over per-sample axes; a backend gathers along one axis after the other. The
gradient is a gather too, through each map's `transposed` map in reverse order (input position p sums
the gradients of the output positions that read it), so no backend needs a scatter. transpose and
pixel_shuffle are permutations of (reshaped) axes instead: see `permutation`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from compiler.layers.shape import pad_widths, slice_bounds, split_sizes


@dataclass(frozen=True, eq=False)
class AxisMap:
    """Output position j along per-sample `axis` = sum over taps t of weight[t, j] * input[index[t, j]]."""

    axis: int
    in_len: int
    index: np.ndarray               # int64 [taps, out_len]; -1 reads the fill value
    weight: np.ndarray | None       # float64 [taps, out_len]; None: one tap of weight 1
    fill: float = 0.0               # what index -1 reads

    @property
    def out_len(self) -> int:
        return self.index.shape[1]

    @cached_property
    def transposed(self) -> AxisMap:
        """The map of the gradient: input position p = sum of weight * output position over the reads of p
        (rows padded with weight-0 reads of position 0 to the most reads of any position)."""
        weight = np.ones(self.index.shape) if self.weight is None else self.weight
        reads = self.index >= 0
        rows, weight = self.index[reads], weight[reads]
        cols = np.broadcast_to(np.arange(self.out_len), self.index.shape)[reads]
        order = np.argsort(rows, kind="stable")
        rows, cols, weight = rows[order], cols[order], weight[order]
        counts = np.bincount(rows, minlength=self.in_len)
        slot = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.zeros((max(int(counts.max(initial=0)), 1), self.in_len), dtype=np.int64)
        gathered = np.zeros(index.shape)
        index[slot, rows], gathered[slot, rows] = cols, weight
        return _frozen(AxisMap(self.axis, self.out_len, index, gathered))


def axis_maps(op: str, attrs: dict, in_shape) -> tuple:
    """The AxisMaps of a slice, split, pad or upsample node over a per-sample input shape (cached, read-only)."""
    return _axis_maps(op, tuple(sorted(attrs.items())), tuple(int(d) for d in in_shape))


@lru_cache(maxsize=512)
def _axis_maps(op: str, key: tuple, in_shape: tuple) -> tuple:
    attrs = dict(key)
    return tuple(_frozen(m) for m in _BUILDERS[op](attrs, in_shape))


def _frozen(m: AxisMap) -> AxisMap:
    """The map with read-only arrays (maps are cached and shared)."""
    for array in (m.index, m.weight):
        if array is not None:
            array.flags.writeable = False
    return m


def _range_map(axis: int, size: int, positions, fill: float = 0.0) -> AxisMap:
    return AxisMap(axis, size, np.asarray(positions, dtype=np.int64)[None], None, fill)


def _slice(attrs, shape) -> list:
    axis = attrs["axis"] % len(shape)
    lo, hi, _ = slice_bounds(shape[axis], attrs["start"], attrs["stop"], attrs["step"])
    return [_range_map(axis, shape[axis], range(lo, hi, attrs["step"]))]


class _Node:
    """The attrs of a node, for the compiler helpers that take one."""

    def __init__(self, attrs):
        self.attrs = attrs


def _split(attrs, shape) -> list:
    axis = attrs["axis"] % len(shape)
    sizes = split_sizes(_Node(attrs), shape[axis])
    start = sum(sizes[:attrs["index"]])
    return [_range_map(axis, shape[axis], range(start, start + sizes[attrs["index"]]))]


def _pad(attrs, shape) -> list:
    widths = pad_widths(_Node(attrs), len(shape))
    first, maps = len(shape) - len(widths), []
    for axis, (before, after) in enumerate(widths, start=first):
        size = shape[axis]
        if before == after == 0:
            continue
        p = np.arange(-before, size + after)
        if attrs["mode"] == "constant":
            p = np.where((p >= 0) & (p < size), p, -1)
        elif attrs["mode"] == "reflect":          # mirrored about the edge values, which are not repeated
            p = np.abs(p)
            p = np.where(p >= size, 2 * (size - 1) - p, p)
        else:                                      # replicate
            p = np.clip(p, 0, size - 1)
        maps.append(_range_map(axis, size, p, attrs["value"]))
    return maps


def _upsample(attrs, shape) -> list:
    spatial = len(shape) - 1
    scales = attrs["scale"] and (attrs["scale"] * spatial if len(attrs["scale"]) == 1 else attrs["scale"])
    sizes = (attrs["size"] * spatial if len(attrs["size"]) == 1 else attrs["size"]) if attrs["size"] else \
        tuple(d * s for d, s in zip(shape[1:], scales))
    maps = []
    for axis, (size, out) in enumerate(zip(shape[1:], sizes), start=1):
        scale = scales[axis - 1] if scales else None
        if attrs["mode"] == "nearest":
            maps.append(_range_map(axis, size, nearest_index(size, out, scale)))
        else:
            index, weight = linear_taps(size, out, scale, attrs["align_corners"])
            maps.append(AxisMap(axis, size, index, weight))
    return maps


def nearest_index(size: int, out: int, scale) -> np.ndarray:
    """PyTorch's mode='nearest' source index: floor(j * s) in float32 arithmetic (as its float32 kernels),
    s = 1/scale_factor when one is given, else size/out."""
    s = np.float32(1.0 / scale) if scale else np.float32(size) / np.float32(out)
    return np.minimum(np.floor(np.arange(out, dtype=np.float32) * s).astype(np.int64), size - 1)


def linear_taps(size: int, out: int, scale, align_corners: bool):
    """PyTorch's (bi)linear taps along one axis: (index [2, out], weight [2, out]) in float64."""
    j = np.arange(out, dtype=np.float64)
    if align_corners:
        src = j * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        ratio = 1.0 / scale if scale else size / out
        src = np.maximum(ratio * (j + 0.5) - 0.5, 0.0)
    if out == size:
        src = j
    low = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), size - 1)     # floorf, as PyTorch
    high = np.minimum(low + 1, size - 1)
    frac = np.clip(src - low, 0.0, 1.0)
    return np.stack([low, high]), np.stack([1.0 - frac, frac])


_BUILDERS = {"slice": _slice, "split": _split, "pad": _pad, "upsample": _upsample}


def permutation(op: str, attrs: dict, shape) -> tuple:
    """transpose and pixel_shuffle as (split, perm, out): a batched input of `shape` reshaped to `split`,
    its axes permuted by `perm` and reshaped to `out` (the inverse permutation takes the gradient back)."""
    if op == "transpose":
        perm = (0, *(a % (len(shape) - 1) + 1 for a in attrs["perm"]))
        return tuple(shape), perm, tuple(shape[a] for a in perm)
    n, channels, h, w = shape
    r = attrs["factor"]
    c = channels // (r * r)
    return (n, c, r, r, h, w), (0, 1, 4, 2, 5, 3), (n, c, h * r, w * r)


def inverse(perm) -> tuple:
    """The permutation that undoes `perm`."""
    return tuple(int(i) for i in np.argsort(perm))
