"""Convolution and pooling kernels of the NumPy backend (im2col + BLAS, Numba window loops)."""
from __future__ import annotations

import numpy as np

from ..runtime.geometry import window_geometry, window_out_size
from . import kernels


def _as4d(x):
    """[N, C, L] -> [N, C, 1, L]; 4-D unchanged."""
    return x[:, :, None, :] if x.ndim == 3 else x


def _padded(x4, ph, pw, hp, wp):
    """x4 with `ph`/`pw` leading zeros and at least hp x wp in all (x4 itself when no padding is needed)."""
    n, c, h, w = x4.shape
    if ph == pw == 0 and h >= hp and w >= wp:
        return x4
    xp = np.zeros((n, c, max(hp, ph + h), max(wp, pw + w)), dtype=x4.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x4
    return xp


def _span(geo):
    """The padded height and width the windows reach."""
    kh, kw, sh, sw, _, _, dh, dw, oh, ow = geo
    return (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1


class ConvPoolOps:
    """Mixin of NumpyOps: conv1d/2d, max/avg/lp pools, global and adaptive pools."""

    # -- convolution -------------------------------------------------------------------------
    # Per-sample im2col: cols [N, C*kh*kw, OH*OW], so one batched product W [F, C*kh*kw] @ cols is
    # [N, F, OH*OW], already channels-first; bias and a fused relu follow in one pass over it.
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
        if geo == (1, 1, 1, 1, 0, 0, 1, 1, h, w):            # 1x1 convolution: the input is its own im2col
            cols = x4.reshape(n, c, h * w)
        else:
            cols = np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
            kernels.im2col(_padded(x4, ph, pw, *_span(geo)), kh, kw, sh, sw, dh, dw, oh, ow, cols)
        w2 = weight.reshape(filters, -1)
        if groups == 1:
            out = np.matmul(w2, cols)
        else:
            out = np.empty((n, filters, oh * ow), dtype=x.dtype)
            for wg, cg, og in self._group_slices(w2, cols, out, groups):
                np.matmul(wg, cg, out=og)
        has_bias, relu = "bias" in params, ctx.get("activation") == "relu"
        if has_bias or relu:
            kernels.bias_act(out, params["bias"] if has_bias else w2[:, 0], has_bias, relu)
        if train:
            ctx.update(cols=cols, x_shape=x.shape, x4_shape=x4.shape, geo=geo, w2=w2, groups=groups,
                       has_bias=has_bias, relu=relu, out=out if relu else None, w_shape=weight.shape)
        return out.reshape((n, filters, ow) if rank == 1 else (n, filters, oh, ow))

    def _conv_backward(self, ctx, grad):
        n = grad.shape[0]
        cols, w2, groups = ctx["cols"], ctx["w2"], ctx["groups"]
        filters = w2.shape[0]
        g = np.ascontiguousarray(grad).reshape(n, filters, -1)
        grads = {}
        if ctx["has_bias"] or ctx["relu"]:
            masked = np.empty_like(g)
            bias = np.empty(filters, dtype=g.dtype)
            kernels.act_grad_bias(g, ctx["out"] if ctx["relu"] else g, ctx["relu"], ctx["has_bias"], masked, bias)
            g = masked
            if ctx["has_bias"]:
                grads["bias"] = bias
        if groups == 1:
            grads["weight"] = np.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0).reshape(ctx["w_shape"])
        else:
            grads["weight"] = np.concatenate([np.matmul(gg, cg.transpose(0, 2, 1)).sum(axis=0) for wg, cg, gg
                                              in self._group_slices(w2, cols, g, groups)]).reshape(ctx["w_shape"])
        if not ctx.get("input_grads", (True,))[0]:       # the input is data: only the weight gradients
            return [None], grads
        if groups == 1:
            dcols = np.matmul(w2.T, g)
        else:
            dcols = np.empty(cols.shape, dtype=g.dtype)
            for (wg, _, gg), (_, dg, _) in zip(self._group_slices(w2, cols, g, groups),
                                               self._group_slices(w2, dcols, g, groups)):
                np.matmul(wg.T, gg, out=dg)
        x4_shape, geo = ctx["x4_shape"], ctx["geo"]
        if geo[:8] == (1, 1, 1, 1, 0, 0, 1, 1) and geo[8:] == x4_shape[2:]:
            dx = dcols
        else:
            dx = self._col2im(dcols, x4_shape, geo)
        return [dx.reshape(ctx["x_shape"])], grads

    @staticmethod
    def _col2im(dcols, x4_shape, geo):
        """The adjoint of the im2col copy: every tap's block added back onto its strided image window."""
        n, c, h, w = x4_shape
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geo
        hp, wp = _span(geo)
        dxp = np.zeros((n, c, max(hp, ph + h), max(wp, pw + w)), dtype=dcols.dtype)
        kernels.col2im(dcols, kh, kw, sh, sw, dh, dw, oh, ow, dxp)
        return dxp[:, :, ph:ph + h, pw:pw + w]

    @staticmethod
    def _group_slices(w2, cols, out, groups):
        """(weight rows, im2col rows, output channels) of each group."""
        fg, cg = w2.shape[0] // groups, cols.shape[1] // groups
        return [(w2[g * fg:(g + 1) * fg], cols[:, g * cg:(g + 1) * cg], out[:, g * fg:(g + 1) * fg])
                for g in range(groups)]

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
        argmax = np.empty(out.shape, dtype=np.int64)
        if geo[:8] == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * geo[8] <= x4.shape[2] and 2 * geo[9] <= x4.shape[3]:
            kernels.maxpool2x2(x4, out, argmax)
        else:
            kernels.maxpool_forward(x4, *geo, out, argmax)
        if train:
            ctx.update(argmax=argmax, x_shape=x.shape, x4_shape=x4.shape)
        return self._pool_out_shape(x, out)

    def _maxpool_backward(self, ctx, grad):
        dx = np.zeros(ctx["x4_shape"], dtype=grad.dtype)
        kernels.maxpool_backward(np.ascontiguousarray(grad).reshape(ctx["argmax"].shape), ctx["argmax"], dx)
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
        kernels.avgpool_forward(x4, kh, kw, sh, sw, ph, pw, oh, ow, include, out)
        if train:
            ctx.update(x_shape=x.shape, x4_shape=x4.shape, avg=(kh, kw, sh, sw, ph, pw, include), out4=out.shape)
        return self._pool_out_shape(x, out)

    def _avgpool_backward_raw(self, ctx, grad):
        dx = np.zeros(ctx["x4_shape"], dtype=grad.dtype)
        kernels.avgpool_backward(np.ascontiguousarray(grad).reshape(ctx["out4"]), *ctx["avg"], dx)
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
