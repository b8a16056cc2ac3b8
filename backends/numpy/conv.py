"""Convolution and pooling kernels of the NumPy backend (im2col + BLAS, Numba window loops)."""
from __future__ import annotations

import numpy as np

from ..runtime.geometry import window_geometry, window_out_size
from . import kernels


def _as4d(x):
    """[N, C, L] -> [N, C, 1, L]; 4-D unchanged."""
    return x[:, :, None, :] if x.ndim == 3 else x


def _padded_shape(x4_shape, geo):
    """The input's shape with the window geometry's leading zeros and at least the span the windows reach."""
    n, c, h, w = x4_shape
    hp, wp = _span(geo)
    return n, c, max(hp, geo[4] + h), max(wp, geo[5] + w)


def _padded(x4, geo):
    """x4 zero-padded to _padded_shape (x4 itself when no padding is needed)."""
    shape = _padded_shape(x4.shape, geo)
    if shape == x4.shape:
        return x4
    h, w = x4.shape[2:]
    ph, pw = geo[4], geo[5]
    xp = np.zeros(shape, dtype=x4.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x4
    return xp


def _span(geo):
    """The padded height and width the windows reach."""
    kh, kw, sh, sw, _, _, dh, dw, oh, ow = geo
    return (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1


class ConvPoolOps:
    """Mixin of NumpyOps: conv1d/2d, max/avg/lp pools, global and adaptive pools (NumpyOps._over_batch runs
    the per-sample work over batch slices)."""

    # -- convolution -------------------------------------------------------------------------
    # Per-sample im2col: cols [N, C*kh*kw, OH*OW], so one product per sample W [F, C*kh*kw] @ cols[n] is
    # [F, OH*OW], already channels-first; bias and a fused relu follow in one pass over it. Each batch slice
    # does all of a sample's work on its own thread (NumpyOps._over_batch).
    def _conv_forward(self, ctx, inputs, params, attrs, train, rank):
        x = inputs[0]
        x4 = np.ascontiguousarray(_as4d(x))
        n, c, h, w = x4.shape
        weight = params["weight"]
        filters, groups = weight.shape[0], attrs.get("groups", 1)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = window_geometry(attrs, rank)
        same = attrs.get("padding") == "same"
        oh, ow = window_out_size(h, kh, sh, ph, dh, same=same), window_out_size(w, kw, sw, pw, dw, same=same)
        geo = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        pointwise = geo == (1, 1, 1, 1, 0, 0, 1, 1, h, w)     # 1x1 convolution: the input is its own im2col
        xp = x4 if pointwise else _padded(x4, geo)
        cols = x4.reshape(n, c, h * w) if pointwise else np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
        w2 = weight.reshape(filters, -1)
        out = np.empty((n, filters, oh * ow), dtype=x.dtype)
        has_bias, relu = "bias" in params, ctx.get("activation") == "relu"
        bias = params["bias"] if has_bias else w2[:, 0]
        group_rows = self._group_rows(w2, cols.shape[1], groups)

        def forward_slice(lo, hi):
            if not pointwise:
                kernels.im2col(xp[lo:hi], kh, kw, sh, sw, dh, dw, oh, ow, cols[lo:hi])
            for (f0, f1), (k0, k1) in group_rows:
                np.matmul(w2[f0:f1], cols[lo:hi, k0:k1], out=out[lo:hi, f0:f1])
            if has_bias or relu:
                kernels.bias_act(out[lo:hi], bias, has_bias, relu)

        self._over_batch(forward_slice, n, cols.size + out.size)
        if train:
            ctx.update(cols=cols, x_shape=x.shape, x4_shape=x4.shape, geo=geo, w2=w2, group_rows=group_rows,
                       has_bias=has_bias, relu=relu, out=out if relu else None, w_shape=weight.shape)
        return out.reshape((n, filters, ow) if rank == 1 else (n, filters, oh, ow))

    def _conv_backward(self, ctx, grad):
        n = grad.shape[0]
        cols, w2, group_rows = ctx["cols"], ctx["w2"], ctx["group_rows"]
        filters, rows = w2.shape
        g = np.ascontiguousarray(grad).reshape(n, filters, -1)
        has_bias, relu = ctx["has_bias"], ctx["relu"]
        masked = np.empty_like(g) if has_bias or relu else g
        bias_parts = np.empty((n, filters), dtype=g.dtype)
        weight_parts = np.empty((n, filters, rows), dtype=g.dtype)          # rows: one group's
        want_dx = ctx.get("input_grads", (True,))[0]          # False: the input is data, weights only
        x4_shape, geo = ctx["x4_shape"], ctx["geo"]
        pointwise = geo[:8] == (1, 1, 1, 1, 0, 0, 1, 1) and geo[8:] == x4_shape[2:]
        dcols = np.empty(cols.shape, dtype=g.dtype) if want_dx else None
        dxp = None if not want_dx or pointwise else np.empty(_padded_shape(x4_shape, geo), dtype=g.dtype)

        def backward_slice(lo, hi):
            if has_bias or relu:
                kernels.act_grad_bias(g[lo:hi], ctx["out"][lo:hi] if relu else g[lo:hi], relu, has_bias,
                                      masked[lo:hi], bias_parts[lo:hi])
            for (f0, f1), (k0, k1) in group_rows:
                np.matmul(masked[lo:hi, f0:f1], cols[lo:hi, k0:k1].transpose(0, 2, 1),
                          out=weight_parts[lo:hi, f0:f1])
                if want_dx:
                    np.matmul(w2[f0:f1].T, masked[lo:hi, f0:f1], out=dcols[lo:hi, k0:k1])
            if dxp is not None:
                dxp[lo:hi] = 0
                kernels.col2im(dcols[lo:hi], *geo[:4], *geo[6:], dxp[lo:hi])

        self._over_batch(backward_slice, n, cols.size + g.size)
        grads = {"weight": weight_parts.sum(axis=0).reshape(ctx["w_shape"])}
        if has_bias:
            grads["bias"] = bias_parts.sum(axis=0)
        if not want_dx:
            return [None], grads
        if pointwise:
            return [dcols.reshape(ctx["x_shape"])], grads
        ph, pw = geo[4], geo[5]
        dx = dxp[:, :, ph:ph + x4_shape[2], pw:pw + x4_shape[3]]
        return [dx.reshape(ctx["x_shape"])], grads

    @staticmethod
    def _group_rows(w2, rows, groups):
        """((first, end) weight rows, (first, end) im2col rows) of each group."""
        fg, cg = w2.shape[0] // groups, rows // groups
        return [((g * fg, (g + 1) * fg), (g * cg, (g + 1) * cg)) for g in range(groups)]

    def forward_conv1d(self, ctx, inputs, params, attrs, train):
        return self._conv_forward(ctx, inputs, params, attrs, train, 1)

    def forward_conv2d(self, ctx, inputs, params, attrs, train):
        return self._conv_forward(ctx, inputs, params, attrs, train, 2)

    backward_conv1d = backward_conv2d = _conv_backward

    # -- window pools ------------------------------------------------------------------------
    def _pool_setup(self, x, attrs, rank):
        x4 = np.ascontiguousarray(_as4d(x))
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = window_geometry(attrs, rank)
        ceil = attrs.get("ceil_mode", False)
        oh = window_out_size(x4.shape[2], kh, sh, ph, dh, ceil)
        ow = window_out_size(x4.shape[3], kw, sw, pw, dw, ceil)
        return x4, (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)

    @staticmethod
    def _pool_out_shape(x, out4):
        return out4.reshape(out4.shape[0], out4.shape[1], out4.shape[3]) if x.ndim == 3 else out4

    def _maxpool_forward(self, ctx, inputs, params, attrs, train, rank):
        x = inputs[0]
        x4, geo = self._pool_setup(x, attrs, rank)
        n, c = x4.shape[:2]
        out = np.empty((n, c, geo[8], geo[9]), dtype=x.dtype)
        argmax = np.empty(out.shape, dtype=np.int32)         # y * W + x in the plane
        two_by_two = geo[:8] == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * geo[8] <= x4.shape[2] and 2 * geo[9] <= x4.shape[3]
        if two_by_two:
            self._over_batch(lambda lo, hi: kernels.maxpool2x2(x4[lo:hi], out[lo:hi], argmax[lo:hi]), n, x4.size)
        else:
            self._over_batch(lambda lo, hi: kernels.maxpool_forward(x4[lo:hi], *geo, out[lo:hi], argmax[lo:hi]), n,
                             x4.size)
        if train:
            ctx.update(argmax=argmax, x_shape=x.shape, x4_shape=x4.shape, two_by_two=two_by_two)
        return self._pool_out_shape(x, out)

    def _maxpool_backward(self, ctx, grad):
        dx = np.empty(ctx["x4_shape"], dtype=grad.dtype)
        argmax = ctx["argmax"]
        grad = np.ascontiguousarray(grad).reshape(argmax.shape)

        def backward_slice(lo, hi):
            if ctx["two_by_two"]:
                kernels.maxpool2x2_backward(grad[lo:hi], argmax[lo:hi], dx[lo:hi])
            else:
                dx[lo:hi] = 0
                kernels.maxpool_backward(grad[lo:hi], argmax[lo:hi], dx[lo:hi])

        self._over_batch(backward_slice, len(dx), dx.size)
        return [dx.reshape(ctx["x_shape"])], {}

    def forward_maxpool1d(self, ctx, inputs, params, attrs, train):
        return self._maxpool_forward(ctx, inputs, params, attrs, train, 1)

    def forward_maxpool2d(self, ctx, inputs, params, attrs, train):
        return self._maxpool_forward(ctx, inputs, params, attrs, train, 2)

    backward_maxpool1d = backward_maxpool2d = _maxpool_backward

    def _avgpool(self, x, attrs, rank, ctx, train):
        x4, geo = self._pool_setup(x, attrs, rank)
        kh, kw, sh, sw, ph, pw, _, _, oh, ow = geo
        include = bool(attrs.get("count_include_pad", True))
        out = np.empty((x4.shape[0], x4.shape[1], oh, ow), dtype=x.dtype)
        self._over_batch(lambda lo, hi: kernels.avgpool_forward(x4[lo:hi], kh, kw, sh, sw, ph, pw, oh, ow, include,
                                                                out[lo:hi]), len(out), x4.size)
        if train:
            ctx.update(x_shape=x.shape, x4_shape=x4.shape, avg=(kh, kw, sh, sw, ph, pw, include), out4=out.shape)
        return self._pool_out_shape(x, out)

    def _avgpool_backward_raw(self, ctx, grad):
        dx = np.empty(ctx["x4_shape"], dtype=grad.dtype)
        grad = np.ascontiguousarray(grad).reshape(ctx["out4"])

        def backward_slice(lo, hi):
            dx[lo:hi] = 0
            kernels.avgpool_backward(grad[lo:hi], *ctx["avg"], dx[lo:hi])

        self._over_batch(backward_slice, len(dx), dx.size)
        return dx.reshape(ctx["x_shape"])

    def forward_avgpool1d(self, ctx, inputs, params, attrs, train):
        return self._avgpool(inputs[0], attrs, 1, ctx, train)

    def forward_avgpool2d(self, ctx, inputs, params, attrs, train):
        return self._avgpool(inputs[0], attrs, 2, ctx, train)

    def backward_avgpool1d(self, ctx, grad):
        return [self._avgpool_backward_raw(ctx, grad)], {}

    backward_avgpool2d = backward_avgpool1d

    def forward_lppool2d(self, ctx, inputs, params, attrs, train):
        """PyTorch's LPPool2d: sign(f) * relu(|f|)^(1/p) with f = avg_pool(x^p) * kh * kw."""
        x, p = inputs[0], float(attrs.get("norm", 2.0))
        area = float(np.prod(attrs["kernel"]))
        f = self._avgpool(x ** p, {**attrs, "padding": (0, 0)}, 2, ctx, train) * area
        out = np.sign(f) * np.maximum(np.abs(f), 0) ** (1.0 / p)
        if train:
            ctx.update(x=x, f=f, out=out, p=p, area=area)
        return out

    def backward_lppool2d(self, ctx, grad):
        f, out, p, x = ctx["f"], ctx["out"], ctx["p"], ctx["x"]
        safe = np.where(f > 0, f, 1)
        df = np.where(f > 0, grad * out / (p * safe), 0).astype(grad.dtype)
        dxp = self._avgpool_backward_raw(ctx, df * ctx["area"])
        return [dxp * p * x ** (p - 1)], {}

    # -- global and adaptive pools ------------------------------------------------------------
    def forward_global_avgpool(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2)

    def backward_global_avgpool(self, ctx, grad):
        shape = ctx["x_shape"]
        count = int(np.prod(shape[2:]))
        dx = np.broadcast_to((grad / count).reshape(*grad.shape, *([1] * (len(shape) - 2))), shape)
        return [np.ascontiguousarray(dx)], {}

    def forward_global_maxpool(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        where = flat.argmax(axis=2)
        ctx.update(x_shape=x.shape, where=where)
        return np.take_along_axis(flat, where[..., None], axis=2)[..., 0]

    def backward_global_maxpool(self, ctx, grad):
        shape = ctx["x_shape"]
        dx = np.zeros((shape[0], shape[1], int(np.prod(shape[2:]))), dtype=grad.dtype)
        np.put_along_axis(dx, ctx["where"][..., None], grad[..., None], axis=2)
        return [dx.reshape(shape)], {}

    @staticmethod
    def _adaptive_bounds(size, out):
        return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]

    def forward_adaptive_avgpool2d(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        oh, ow = attrs["output"]
        rows, cols = self._adaptive_bounds(x.shape[2], oh), self._adaptive_bounds(x.shape[3], ow)
        out = np.empty((*x.shape[:2], oh, ow), dtype=x.dtype)
        for i, (y0, y1) in enumerate(rows):
            for j, (x0, x1) in enumerate(cols):
                out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
        ctx.update(x_shape=x.shape, bounds=(rows, cols))
        return out

    def backward_adaptive_avgpool2d(self, ctx, grad):
        dx = np.zeros(ctx["x_shape"], dtype=grad.dtype)
        rows, cols = ctx["bounds"]
        for i, (y0, y1) in enumerate(rows):
            for j, (x0, x1) in enumerate(cols):
                dx[:, :, y0:y1, x0:x1] += (grad[:, :, i, j] / ((y1 - y0) * (x1 - x0)))[:, :, None, None]
        return [dx], {}
