"""Numba CPU kernels where loops beat array expressions: im2col/col2im and window pooling.

All kernels work on 4-D channels-first arrays [N, C, H, W] (1-D layers use H = 1) and take the
window geometry explicitly: kernel (kh, kw), stride (sh, sw), leading padding (ph, pw), dilation
(dh, dw) and the output size (oh, ow), so asymmetric 'same' padding and ceil_mode need no copies.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols):
    """cols[(n*oh + i)*ow + j, (c*kh + a)*kw + b] = x[n, c, i*sh - ph + a*dh, j*sw - pw + b*dw] (0 outside)."""
    n_, c_, h_, w_ = x.shape
    for n in prange(n_):
        for i in range(oh):
            for j in range(ow):
                row = (n * oh + i) * ow + j
                for c in range(c_):
                    for a in range(kh):
                        y = i * sh - ph + a * dh
                        base = (c * kh + a) * kw
                        if y < 0 or y >= h_:
                            for b in range(kw):
                                cols[row, base + b] = 0.0
                            continue
                        for b in range(kw):
                            xx = j * sw - pw + b * dw
                            cols[row, base + b] = x[n, c, y, xx] if 0 <= xx < w_ else 0.0


@njit(cache=True, parallel=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, dx):
    """The adjoint of im2col: dx (zeroed by the caller) accumulates every column entry."""
    n_, c_, h_, w_ = dx.shape
    for n in prange(n_):
        for i in range(oh):
            for j in range(ow):
                row = (n * oh + i) * ow + j
                for c in range(c_):
                    for a in range(kh):
                        y = i * sh - ph + a * dh
                        if y < 0 or y >= h_:
                            continue
                        base = (c * kh + a) * kw
                        for b in range(kw):
                            xx = j * sw - pw + b * dw
                            if 0 <= xx < w_:
                                dx[n, c, y, xx] += cols[row, base + b]


@njit(cache=True, parallel=True)
def rows_to_nchw(rows, n_, f_, p_, out):
    """out[n, f, p] = rows[n*p_ + p, f] (a conv's matmul result into channels-first layout)."""
    for n in prange(n_):
        for p in range(p_):
            for f in range(f_):
                out[n, f, p] = rows[n * p_ + p, f]


@njit(cache=True, parallel=True)
def nchw_to_rows(x, rows):
    """rows[n*P + p, f] = x[n, f, p] (the inverse of rows_to_nchw)."""
    n_, f_, p_ = x.shape
    for n in prange(n_):
        for f in range(f_):
            for p in range(p_):
                rows[n * p_ + p, f] = x[n, f, p]


@njit(cache=True, parallel=True)
def maxpool_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out, argmax):
    """Window maximum (padding counts as -inf) and the flat h*W + w index of each maximum."""
    n_, c_, h_, w_ = x.shape
    for nc in prange(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                where = -1
                for a in range(kh):
                    y = i * sh - ph + a * dh
                    if y < 0 or y >= h_:
                        continue
                    for b in range(kw):
                        xx = j * sw - pw + b * dw
                        if 0 <= xx < w_:
                            v = x[n, c, y, xx]
                            if v > best or where < 0 or np.isnan(v):
                                best = v
                                where = y * w_ + xx
                out[n, c, i, j] = best
                argmax[n, c, i, j] = where


@njit(cache=True, parallel=True)
def maxpool_backward(grad, argmax, dx):
    n_, c_, oh, ow = grad.shape
    w_ = dx.shape[3]
    for nc in prange(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            for j in range(ow):
                where = argmax[n, c, i, j]
                dx[n, c, where // w_, where % w_] += grad[n, c, i, j]


@njit(cache=True)
def _avg_window(i, k, s, p, size):
    """PyTorch's avg-pool window: clipped [start, end) and the size of the window clipped to the padding."""
    start = i * s - p
    end = min(start + k, size + p)
    padded = end - start
    return max(start, 0), min(end, size), padded


@njit(cache=True, parallel=True)
def avgpool_forward(x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, out):
    n_, c_, h_, w_ = x.shape
    for nc in prange(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            y0, y1, py = _avg_window(i, kh, sh, ph, h_)
            for j in range(ow):
                x0, x1, px = _avg_window(j, kw, sw, pw, w_)
                total = 0.0
                for y in range(y0, y1):
                    for xx in range(x0, x1):
                        total += x[n, c, y, xx]
                divisor = py * px if count_include_pad else (y1 - y0) * (x1 - x0)
                out[n, c, i, j] = total / max(divisor, 1)


@njit(cache=True, parallel=True)
def avgpool_backward(grad, kh, kw, sh, sw, ph, pw, count_include_pad, dx):
    n_, c_, oh, ow = grad.shape
    h_, w_ = dx.shape[2], dx.shape[3]
    for nc in prange(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            y0, y1, py = _avg_window(i, kh, sh, ph, h_)
            for j in range(ow):
                x0, x1, px = _avg_window(j, kw, sw, pw, w_)
                divisor = py * px if count_include_pad else (y1 - y0) * (x1 - x0)
                g = grad[n, c, i, j] / max(divisor, 1)
                for y in range(y0, y1):
                    for xx in range(x0, x1):
                        dx[n, c, y, xx] += g


@njit(cache=True)
def _valid_range(k_off, stride, pad, size, out):
    """Output positions o in [lo, hi) whose input index o*stride - pad + k_off lies in [0, size)."""
    first = pad - k_off
    lo = 0 if first <= 0 else (first + stride - 1) // stride
    last = size - 1 + pad - k_off
    hi = 0 if last < 0 else min(out, last // stride + 1)
    return lo, max(lo, hi)


@njit(cache=True, parallel=True)
def im2col_t(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols):
    """Transposed im2col: cols[(c*kh + a)*kw + b, (n*oh + i)*ow + j] = x[n, c, i*sh - ph + a*dh, j*sw - pw + b*dw].

    Each output row is a run of shifted image rows, so reads and writes are contiguous along j.
    """
    n_, c_, h_, w_ = x.shape
    for r in prange(c_ * kh * kw):
        c, rest = r // (kh * kw), r % (kh * kw)
        a, b = rest // kw, rest % kw
        j0, j1 = _valid_range(b * dw, sw, pw, w_, ow)
        for n in range(n_):
            for i in range(oh):
                y = i * sh - ph + a * dh
                base = (n * oh + i) * ow
                if y < 0 or y >= h_:
                    for j in range(ow):
                        cols[r, base + j] = 0.0
                    continue
                for j in range(j0):
                    cols[r, base + j] = 0.0
                off = b * dw - pw
                if sw == 1:
                    cols[r, base + j0:base + j1] = x[n, c, y, j0 + off:j1 + off]
                else:
                    for j in range(j0, j1):
                        cols[r, base + j] = x[n, c, y, j * sw + off]
                for j in range(j1, ow):
                    cols[r, base + j] = 0.0


@njit(cache=True, parallel=True)
def col2im_t(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, dx):
    """The adjoint of im2col_t: dx (zeroed by the caller) accumulates every entry; parallel over channels."""
    n_, c_, h_, w_ = dx.shape
    for c in prange(c_):
        for a in range(kh):
            for b in range(kw):
                r = (c * kh + a) * kw + b
                j0, j1 = _valid_range(b * dw, sw, pw, w_, ow)
                off = b * dw - pw
                for n in range(n_):
                    for i in range(oh):
                        y = i * sh - ph + a * dh
                        if y < 0 or y >= h_:
                            continue
                        base = (n * oh + i) * ow
                        if sw == 1:
                            dx[n, c, y, j0 + off:j1 + off] += cols[r, base + j0:base + j1]
                        else:
                            for j in range(j0, j1):
                                dx[n, c, y, j * sw + off] += cols[r, base + j]


@njit(cache=True, parallel=True)
def fnp_to_nfp(src, bias, has_bias, out):
    """out[n, f, p] = src[f, n*P + p] (+ bias[f]): a transposed conv product into channels-first layout."""
    n_, f_, p_ = out.shape
    for n in prange(n_):
        for f in range(f_):
            add = bias[f] if has_bias else 0.0
            for p in range(p_):
                out[n, f, p] = src[f, n * p_ + p] + add


@njit(cache=True, parallel=True)
def nfp_to_fnp(src, out):
    """out[f, n*P + p] = src[n, f, p] (the inverse of fnp_to_nfp)."""
    n_, f_, p_ = src.shape
    for f in prange(f_):
        for n in range(n_):
            for p in range(p_):
                out[f, n * p_ + p] = src[n, f, p]


@njit(cache=True)
def sgd_update(param, grad, buf, lr, momentum, weight_decay, nesterov, first):
    """PyTorch's SGD step on flat arrays in one pass (buf: the momentum buffer, unused without momentum)."""
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i] if weight_decay else grad[i]
        if momentum:
            b = g if first else momentum * buf[i] + g
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] -= lr * g


@njit(cache=True)
def adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """PyTorch's Adam (decoupled=False, L2 weight decay) or AdamW (decoupled=True) step in one pass."""
    correction1 = 1 - beta1 ** step
    correction2_sqrt = np.sqrt(1 - beta2 ** step)
    step_size = lr / correction1
    for i in range(param.size):
        g = grad[i]
        if weight_decay:
            if decoupled:
                param[i] *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * param[i]
        m[i] = beta1 * m[i] + (1 - beta1) * g
        v[i] = beta2 * v[i] + (1 - beta2) * g * g
        param[i] -= step_size * m[i] / (np.sqrt(v[i]) / correction2_sqrt + eps)

