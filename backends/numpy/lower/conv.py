"""conv1d/2d: per-sample im2col + BLAS, bias and a fused relu in one Numba pass; each batch slice does all of
a sample's work on its own thread (NumpyOps.over_batch). conv_transpose1d/2d: the same machinery run backwards,
with the whole batch's columns side by side so that each product is one GEMM."""
from __future__ import annotations

import numpy as np

from ...runtime.geometry import transposed_geometry, transposed_out_size, window_geometry, window_out_size
from .. import kernels
from ..packed import pack, xnor_matmul
from . import NUMPY


def as4d(x):
    """[N, C, L] -> [N, C, 1, L]; 4-D unchanged (1-D windows run as 2-D ones of unit height)."""
    return x[:, :, None, :] if x.ndim == 3 else x


def _span(geo):
    """The padded height and width the windows reach."""
    kh, kw, sh, sw, _, _, dh, dw, oh, ow = geo
    return (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1


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


def _group_rows(w2, rows, groups):
    """((first, end) weight rows, (first, end) im2col rows) of each group."""
    fg, cg = w2.shape[0] // groups, rows // groups
    return [((g * fg, (g + 1) * fg), (g * cg, (g + 1) * cg)) for g in range(groups)]


@NUMPY.layer("conv1d", "conv2d", fuses=("relu",), batch_parallel=True)
class Conv:
    """Per-sample im2col: cols [N, C*kh*kw, OH*OW], so one product per sample W [F, C*kh*kw] @ cols[n] is
    [F, OH*OW], already channels-first; bias and a fused relu follow in one pass over it."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        rank = len(attrs["kernel"])
        x4 = np.ascontiguousarray(as4d(x))
        n, c, h, w = x4.shape
        weight = params["weight"]
        filters, groups = weight.shape[0], attrs["groups"]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = window_geometry(attrs, rank)
        same = attrs["padding"] == "same"
        oh, ow = window_out_size(h, kh, sh, ph, dh, same=same), window_out_size(w, kw, sw, pw, dw, same=same)
        geo = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        pointwise = geo == (1, 1, 1, 1, 0, 0, 1, 1, h, w)     # 1x1 convolution: the input is its own im2col
        xp = x4 if pointwise else _padded(x4, geo)
        cols = x4.reshape(n, c, h * w) if pointwise else np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
        w2 = weight.reshape(filters, -1)
        out = np.empty((n, filters, oh * ow), dtype=x.dtype)
        has_bias, relu = "bias" in params, ctx.get("activation") == "relu"
        bias = params["bias"] if has_bias else w2[:, 0]
        group_rows = _group_rows(w2, cols.shape[1], groups)

        packed = None if train or groups != 1 else ctx.get("packed_weight")   # +-1 inputs: XNOR and popcount
        masked = bool(ph or pw or same)           # zero padding: the packed columns mark their valid positions

        def forward_slice(lo, hi):
            if not pointwise:
                kernels.im2col(xp[lo:hi], kh, kw, sh, sw, dh, dw, oh, ow, cols[lo:hi])
            if packed is not None:
                rows = cols[lo:hi].transpose(0, 2, 1).reshape(-1, cols.shape[1])
                products = xnor_matmul(pack(rows, masked), packed, cols.shape[1],
                                       np.empty((len(rows), filters), dtype=out.dtype))
                out[lo:hi] = products.reshape(hi - lo, -1, filters).transpose(0, 2, 1)
            else:
                for (f0, f1), (k0, k1) in group_rows:
                    np.matmul(w2[f0:f1], cols[lo:hi, k0:k1], out=out[lo:hi, f0:f1])
            if has_bias or relu:
                kernels.bias_act(out[lo:hi], bias, has_bias, relu)

        ops.over_batch(forward_slice, n, cols.size + out.size)
        if train:
            ctx.update(cols=cols, x_shape=x.shape, x4_shape=x4.shape, geo=geo, w2=w2, group_rows=group_rows,
                       has_bias=has_bias, relu=relu, out=out if relu else None, w_shape=weight.shape)
        return out.reshape((n, filters, ow) if rank == 1 else (n, filters, oh, ow))

    def backward(ops, ctx, grad):
        n = grad.shape[0]
        cols, w2, group_rows = ctx["cols"], ctx["w2"], ctx["group_rows"]
        filters, rows = w2.shape
        g = np.ascontiguousarray(grad).reshape(n, filters, -1)
        has_bias, relu = ctx["has_bias"], ctx["relu"]
        masked = np.empty_like(g) if has_bias or relu else g
        bias_parts = np.empty((n, filters), dtype=g.dtype)
        weight_parts = np.empty((n, filters, rows), dtype=g.dtype)          # rows: one group's
        want_dx = ctx["input_grads"][0]          # False: the input is data, weights only
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

        ops.over_batch(backward_slice, n, cols.size + g.size)
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


@NUMPY.layer("conv_transpose1d", "conv_transpose2d", fuses=("relu",), batch_parallel=True)
class ConvTranspose:
    """The input gradient of a convolution (geometry `geo`, whose output is this layer's input): wide columns
    [F*kh*kw, N, H*W] = W^T @ x, one GEMM per group over the batch (slice), then col2im into the padded output
    and a crop. Backward: im2col of the output gradient gives wide columns D; the input gradient is W @ D and
    the weight gradient x @ D^T, GEMMs over the batch slice again (one partial weight gradient per slice)."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x4 = as4d(inputs[0])
        n, c, h, w = x4.shape
        weight, filters = params["weight"], attrs["filters"]
        kernel, stride, pads, dilation, extra = transposed_geometry(attrs, len(attrs["kernel"]))
        oh, ow = transposed_out_size((h, w), kernel, stride, pads, dilation, extra)
        geo = (*kernel, *stride, *pads, *dilation, h, w)
        kh, kw, sh, sw, ph, pw, dh, dw = geo[:8]
        out_shape, padded_shape = (n, filters, oh, ow), _padded_shape((n, filters, oh, ow), geo)
        w2 = weight.reshape(c, -1)
        rows, positions, dtype = filters * kh * kw, h * w, x4.dtype
        group_rows = _group_rows(w2, rows, attrs["groups"])
        xw, cols = np.empty((c, n, positions), dtype=dtype), np.empty((rows, n, positions), dtype=dtype)
        xw2, cols2 = xw.reshape(c, -1), cols.reshape(rows, -1)
        direct = padded_shape == out_shape          # nothing to crop: the output is the col2im target
        yp = np.empty(padded_shape, dtype=dtype)
        out = yp.reshape(n, filters, oh * ow) if direct else np.empty((n, filters, oh * ow), dtype=dtype)
        has_bias, relu = "bias" in params, ctx.get("activation") == "relu"
        bias = params["bias"] if has_bias else w2[0]

        def forward_slice(lo, hi):
            xw[:, lo:hi] = x4[lo:hi].reshape(hi - lo, c, positions).transpose(1, 0, 2)
            span = slice(lo * positions, hi * positions)
            for (c0, c1), (k0, k1) in group_rows:
                np.matmul(w2[c0:c1].T, xw2[c0:c1, span], out=cols2[k0:k1, span])
            yp[lo:hi] = 0
            kernels.col2im_wide(cols, kh, kw, sh, sw, dh, dw, h, w, yp[lo:hi], lo)
            if not direct:
                out[lo:hi].reshape(hi - lo, filters, oh, ow)[...] = yp[lo:hi, :, ph:ph + oh, pw:pw + ow]
            if has_bias or relu:
                kernels.bias_act(out[lo:hi], bias, has_bias, relu)

        ops.over_batch(forward_slice, n, cols.size + yp.size)
        if train:
            ctx.update(xw=xw, w2=w2, geo=geo, group_rows=group_rows, out_shape=out_shape, padded_shape=padded_shape,
                       has_bias=has_bias, relu=relu, out=out if relu else None, x_shape=inputs[0].shape,
                       w_shape=weight.shape)
        return out.reshape(out_shape if len(attrs["kernel"]) == 2 else (n, filters, ow))

    def backward(ops, ctx, grad):
        xw, w2, geo, group_rows = ctx["xw"], ctx["w2"], ctx["geo"], ctx["group_rows"]
        n, filters, oh, ow = ctx["out_shape"]
        kh, kw, sh, sw, ph, pw, dh, dw, h, w = geo
        c, positions = w2.shape[0], h * w
        rows = filters * kh * kw
        g = np.ascontiguousarray(grad).reshape(n, filters, oh * ow)
        has_bias, relu = ctx["has_bias"], ctx["relu"]
        masked = np.empty_like(g) if has_bias or relu else g
        bias_parts = np.empty((n, filters), dtype=g.dtype)
        direct = ctx["padded_shape"] == ctx["out_shape"]
        gp = masked.reshape(ctx["out_shape"]) if direct else np.empty(ctx["padded_shape"], dtype=g.dtype)
        dcols = np.empty((rows, n, positions), dtype=g.dtype)
        dcols2, xw2 = dcols.reshape(rows, -1), xw.reshape(c, -1)
        want_dx = ctx["input_grads"][0]
        dxw = np.empty((c, n, positions), dtype=g.dtype) if want_dx else None
        dx = np.empty((n, c, positions), dtype=g.dtype) if want_dx else None
        weight_parts = {}

        def backward_slice(lo, hi):
            if has_bias or relu:
                kernels.act_grad_bias(g[lo:hi], ctx["out"][lo:hi] if relu else g[lo:hi], relu, has_bias,
                                      masked[lo:hi], bias_parts[lo:hi])
            if not direct:
                gp[lo:hi] = 0
                gp[lo:hi, :, ph:ph + oh, pw:pw + ow] = masked[lo:hi].reshape(hi - lo, filters, oh, ow)
            kernels.im2col_wide(gp[lo:hi], kh, kw, sh, sw, dh, dw, h, w, dcols, lo)
            span = slice(lo * positions, hi * positions)
            part = np.empty(w2.shape, dtype=g.dtype)
            for (c0, c1), (k0, k1) in group_rows:
                np.matmul(xw2[c0:c1, span], dcols2[k0:k1, span].T, out=part[c0:c1])
                if want_dx:
                    np.matmul(w2[c0:c1], dcols2[k0:k1, span], out=dxw.reshape(c, -1)[c0:c1, span])
            weight_parts[lo] = part
            if want_dx:
                dx[lo:hi] = dxw[:, lo:hi].transpose(1, 0, 2)

        ops.over_batch(backward_slice, n, dcols.size + g.size)
        parts = list(weight_parts.values())
        for part in parts[1:]:
            parts[0] += part
        grads = {"weight": parts[0].reshape(ctx["w_shape"])}
        if has_bias:
            grads["bias"] = bias_parts.sum(axis=0)
        return [dx.reshape(ctx["x_shape"]) if want_dx else None], grads
