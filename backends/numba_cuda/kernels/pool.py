"""Pooling forward and backward: max (with dilation), average, Lp, global and adaptive average.

One thread per output value walks its window; backward scatters with atomic adds into a zeroed
input gradient. Window rules follow PyTorch (ceil_mode, count_include_pad, Lp as a scaled
average of x**p raised to 1/p). 1-D pooling is 2-D pooling with height 1.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, int32

from ..device import F0, F1, empty, grid1d, launch
from .elementwise import fill

MAX, AVG, LP = 0, 1, 2
NEG_INF = np.float32(-np.inf)


@cuda.jit(device=True)
def _window(o, size, k, s, pad, adaptive, out_size):
    """(start, end, full) of one window along an axis; full is the unclipped size avg-pool divides by."""
    if adaptive:
        start = (o * size) // out_size
        end = ((o + 1) * size + out_size - 1) // out_size
        return start, end, end - start
    start = o * s - pad
    end = min(start + k, size + pad)
    full = end - start
    return max(start, 0), min(end, size), full


@cuda.jit(cache=True)
def _pool_forward(x, y, arg, mode, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, include_pad, p, adaptive):
    i = cuda.grid(1)
    while i < y.size:
        ox = i % ow
        oy = (i // ow) % oh
        plane = i // (ow * oh)
        base = plane * h * w
        if mode == MAX:
            best = NEG_INF
            where = int32(-1)
            for ky in range(kh):
                yy = oy * sh - ph + ky * dh
                if 0 <= yy < h:
                    for kx in range(kw):
                        xx = ox * sw - pw + kx * dw
                        if 0 <= xx < w:
                            v = x[base + yy * w + xx]
                            if v > best or where < 0:
                                best = v
                                where = int32(yy * w + xx)
            y[i] = best
            arg[i] = where
        else:
            y0, y1, fy = _window(oy, h, kh, sh, ph, adaptive, oh)
            x0, x1, fx = _window(ox, w, kw, sw, pw, adaptive, ow)
            total = F0
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    v = x[base + yy * w + xx]
                    total += v if mode == AVG else v ** p
            count = (y1 - y0) * (x1 - x0)
            if mode == AVG:
                divisor = fy * fx if include_pad and not adaptive else count
                y[i] = total / np.float32(divisor)
            else:
                total = total * np.float32(kh * kw) / np.float32(max(count, 1))
                root = abs(total) ** (F1 / p)
                y[i] = root if total > F0 else (-root if total < F0 else F0)
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _pool_backward(dy, x, y, arg, dx, mode, h, w, oh, ow, kh, kw, sh, sw, ph, pw, include_pad, p, adaptive):
    i = cuda.grid(1)
    while i < dy.size:
        ox = i % ow
        oy = (i // ow) % oh
        base = (i // (ow * oh)) * h * w
        g = dy[i]
        if mode == MAX:
            if arg[i] >= 0:
                cuda.atomic.add(dx, base + arg[i], g)
        else:
            y0, y1, fy = _window(oy, h, kh, sh, ph, adaptive, oh)
            x0, x1, fx = _window(ox, w, kw, sw, pw, adaptive, ow)
            count = (y1 - y0) * (x1 - x0)
            if mode == AVG:
                divisor = fy * fx if include_pad and not adaptive else count
                share = g / np.float32(divisor)
            else:
                out = y[i]
                share = F0
                if out > F0:     # d(c * sum x^p)^(1/p) / dx = c * x^(p-1) * out^(1-p)
                    share = g * np.float32(kh * kw) / np.float32(max(count, 1)) * out ** (F1 - p)
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    j = base + yy * w + xx
                    if mode == AVG:
                        cuda.atomic.add(dx, j, share)
                    else:
                        cuda.atomic.add(dx, j, share * x[j] ** (p - F1))
        i += cuda.gridsize(1)


class Pool:
    """Geometry of one pooling layer over (batch, C, H, W) or (batch, C, L) inputs."""

    def __init__(self, mode: str, in_shape, out_spatial, kernel=None, stride=None, padding=None, dilation=None,
                 count_include_pad=True, p=2.0, adaptive=False):
        self.mode = {"max": MAX, "avg": AVG, "lp": LP}[mode]
        spatial = tuple(in_shape[2:])
        if len(spatial) == 1:
            spatial, out_spatial = (1, *spatial), (1, *out_spatial)
            kernel, stride, padding, dilation = ((1, *v) if v is not None else None
                                                 for v in (kernel, stride, padding, dilation))
        self.h, self.w = spatial
        self.oh, self.ow = out_spatial
        self.kernel = tuple(kernel) if kernel is not None else spatial
        self.stride = tuple(stride) if stride is not None else self.kernel
        self.padding = tuple(padding) if padding is not None else (0, 0)
        self.dilation = tuple(dilation) if dilation is not None else (1, 1)
        self.include_pad, self.p, self.adaptive = bool(count_include_pad), np.float32(p), bool(adaptive)
        self.in_shape = tuple(in_shape)
        self.out_shape = (*in_shape[:2], *([self.ow] if len(in_shape) == 3 else [self.oh, self.ow]))

    def forward(self, x):
        """(y, argmax) where argmax is an int32 array for max pooling (None otherwise)."""
        y = empty(self.out_shape)
        arg = empty(self.out_shape, np.int32) if self.mode == MAX else empty((1,), np.int32)
        launch(_pool_forward, grid1d(y.size), x.reshape(x.size), y.reshape(y.size), arg.reshape(arg.size), self.mode,
               self.h, self.w, self.oh, self.ow, *self.kernel, *self.stride, *self.padding, *self.dilation,
               self.include_pad, self.p, self.adaptive)
        return y, (arg if self.mode == MAX else None)

    def backward(self, dy, x, y, arg):
        dx = fill(empty(self.in_shape), 0.0)
        arg = arg if arg is not None else empty((1,), np.int32)
        launch(_pool_backward, grid1d(dy.size), dy.reshape(dy.size), x.reshape(x.size), y.reshape(y.size),
               arg.reshape(arg.size), dx.reshape(dx.size), self.mode, self.h, self.w, self.oh, self.ow, *self.kernel,
               *self.stride, *self.padding, self.include_pad, self.p, self.adaptive)
        return dx


__all__ = ["Pool"]
