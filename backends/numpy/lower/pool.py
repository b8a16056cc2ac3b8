"""Pools: max/avg/lp windows (Numba loops over batch slices, PyTorch's padding and ceil_mode), global and
adaptive pools."""
from __future__ import annotations

import numpy as np

from ...runtime.geometry import window_geometry, window_out_size
from .. import kernels
from . import NUMPY
from .conv import as4d


def _window_setup(x, attrs):
    """The input as 4-D and its window geometry (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)."""
    x4 = np.ascontiguousarray(as4d(x))
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = window_geometry(attrs, len(attrs["kernel"]))
    ceil = attrs["ceil_mode"]
    oh = window_out_size(x4.shape[2], kh, sh, ph, dh, ceil)
    ow = window_out_size(x4.shape[3], kw, sw, pw, dw, ceil)
    return x4, (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def _out_shape(x, out4):
    """A 4-D pool output back in the input's rank."""
    return out4.reshape(out4.shape[0], out4.shape[1], out4.shape[3]) if x.ndim == 3 else out4


@NUMPY.layer("maxpool1d", "maxpool2d", batch_parallel=True)
class MaxPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        x4, geo = _window_setup(x, attrs)
        n, c = x4.shape[:2]
        out = np.empty((n, c, geo[8], geo[9]), dtype=x.dtype)
        argmax = np.empty(out.shape, dtype=np.int32)         # y * W + x in the plane
        two_by_two = geo[:8] == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * geo[8] <= x4.shape[2] and 2 * geo[9] <= x4.shape[3]
        if two_by_two:
            ops.over_batch(lambda lo, hi: kernels.maxpool2x2(x4[lo:hi], out[lo:hi], argmax[lo:hi]), n, x4.size)
        else:
            ops.over_batch(lambda lo, hi: kernels.maxpool_forward(x4[lo:hi], *geo, out[lo:hi], argmax[lo:hi]), n,
                           x4.size)
        if train:
            ctx.update(argmax=argmax, x_shape=x.shape, x4_shape=x4.shape, two_by_two=two_by_two)
        return _out_shape(x, out)

    def backward(ops, ctx, grad):
        dx = np.empty(ctx["x4_shape"], dtype=grad.dtype)
        argmax = ctx["argmax"]
        grad = np.ascontiguousarray(grad).reshape(argmax.shape)

        def backward_slice(lo, hi):
            if ctx["two_by_two"]:
                kernels.maxpool2x2_backward(grad[lo:hi], argmax[lo:hi], dx[lo:hi])
            else:
                dx[lo:hi] = 0
                kernels.maxpool_backward(grad[lo:hi], argmax[lo:hi], dx[lo:hi])

        ops.over_batch(backward_slice, len(dx), dx.size)
        return [dx.reshape(ctx["x_shape"])], {}


def _avgpool_forward(ops, ctx, x, attrs, include_pad: bool, train):
    x4, geo = _window_setup(x, attrs)
    kh, kw, sh, sw, ph, pw, _, _, oh, ow = geo
    out = np.empty((x4.shape[0], x4.shape[1], oh, ow), dtype=x.dtype)
    ops.over_batch(lambda lo, hi: kernels.avgpool_forward(x4[lo:hi], kh, kw, sh, sw, ph, pw, oh, ow, include_pad,
                                                          out[lo:hi]), len(out), x4.size)
    if train:
        ctx.update(x_shape=x.shape, x4_shape=x4.shape, avg=(kh, kw, sh, sw, ph, pw, include_pad), out4=out.shape)
    return _out_shape(x, out)


def _avgpool_backward(ops, ctx, grad):
    """The input gradient of _avgpool_forward (an array, not the lowering's pair)."""
    dx = np.empty(ctx["x4_shape"], dtype=grad.dtype)
    grad = np.ascontiguousarray(grad).reshape(ctx["out4"])

    def backward_slice(lo, hi):
        dx[lo:hi] = 0
        kernels.avgpool_backward(grad[lo:hi], *ctx["avg"], dx[lo:hi])

    ops.over_batch(backward_slice, len(dx), dx.size)
    return dx.reshape(ctx["x_shape"])


@NUMPY.layer("avgpool1d", "avgpool2d", batch_parallel=True)
class AvgPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        return _avgpool_forward(ops, ctx, inputs[0], attrs, attrs["count_include_pad"], train)

    def backward(ops, ctx, grad):
        return [_avgpool_backward(ops, ctx, grad)], {}


@NUMPY.layer("lppool2d")
class LpPool:
    """PyTorch's LPPool2d: sign(f) * relu(|f|)^(1/p) with f = avg_pool(x^p) * kh * kw (it takes no padding)."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, p = inputs[0], float(attrs["norm"])
        area = float(np.prod(attrs["kernel"]))
        f = _avgpool_forward(ops, ctx, x ** p, attrs, True, train) * area
        out = np.sign(f) * np.maximum(np.abs(f), 0) ** (1.0 / p)
        if train:
            ctx.update(x=x, f=f, out=out, p=p, area=area)
        return out

    def backward(ops, ctx, grad):
        f, out, p, x = ctx["f"], ctx["out"], ctx["p"], ctx["x"]
        safe = np.where(f > 0, f, 1)
        df = np.where(f > 0, grad * out / (p * safe), 0).astype(grad.dtype)
        dxp = _avgpool_backward(ops, ctx, df * ctx["area"])
        return [dxp * p * x ** (p - 1)], {}


@NUMPY.layer("global_avgpool")
class GlobalAvgPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2)

    def backward(ops, ctx, grad):
        shape = ctx["x_shape"]
        count = int(np.prod(shape[2:]))
        dx = np.broadcast_to((grad / count).reshape(*grad.shape, *([1] * (len(shape) - 2))), shape)
        return [np.ascontiguousarray(dx)], {}


@NUMPY.layer("global_maxpool")
class GlobalMaxPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        where = flat.argmax(axis=2)
        ctx.update(x_shape=x.shape, where=where)
        return np.take_along_axis(flat, where[..., None], axis=2)[..., 0]

    def backward(ops, ctx, grad):
        shape = ctx["x_shape"]
        dx = np.zeros((shape[0], shape[1], int(np.prod(shape[2:]))), dtype=grad.dtype)
        np.put_along_axis(dx, ctx["where"][..., None], grad[..., None], axis=2)
        return [dx.reshape(shape)], {}


def _adaptive_bounds(size, out):
    """PyTorch's adaptive windows: [floor(i * size / out), ceil((i + 1) * size / out)) for each output i."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


@NUMPY.layer("adaptive_avgpool2d")
class AdaptiveAvgPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        oh, ow = attrs["output"]
        rows, cols = _adaptive_bounds(x.shape[2], oh), _adaptive_bounds(x.shape[3], ow)
        out = np.empty((*x.shape[:2], oh, ow), dtype=x.dtype)
        for i, (y0, y1) in enumerate(rows):
            for j, (x0, x1) in enumerate(cols):
                out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
        ctx.update(x_shape=x.shape, bounds=(rows, cols))
        return out

    def backward(ops, ctx, grad):
        dx = np.zeros(ctx["x_shape"], dtype=grad.dtype)
        rows, cols = ctx["bounds"]
        for i, (y0, y1) in enumerate(rows):
            for j, (x0, x1) in enumerate(cols):
                dx[:, :, y0:y1, x0:x1] += (grad[:, :, i, j] / ((y1 - y0) * (x1 - x0)))[:, :, None, None]
        return [dx], {}
