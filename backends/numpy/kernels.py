"""Numba CPU kernels where loops beat array expressions: window pooling, bias + activation passes, optimizers,
and the ufuncs NumPy lacks (erf).

All kernels work on 4-D channels-first arrays [N, C, H, W] (1-D layers use H = 1) and take the
window geometry explicitly: kernel (kh, kw), stride (sh, sw), leading padding (ph, pw), dilation
(dh, dw) and the output size (oh, ow), so asymmetric 'same' padding and ceil_mode need no copies.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64, vectorize

SUMS = {"reassoc", "contract"}        # fastmath flags that let reductions vectorize (NaN/inf semantics kept)


@njit(cache=True, nogil=True)
def maxpool_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out, argmax):
    """Window maximum (padding counts as -inf; a later element wins if larger or NaN, as in PyTorch) and the
    flat y*W + x index of each."""
    n_, c_, h_, w_ = x.shape
    for nc in range(n_ * c_):
        n, c = nc // c_, nc % c_
        plane = x[n, c]
        for i in range(oh):
            y0 = i * sh - ph
            for j in range(ow):
                x0 = j * sw - pw
                best = -np.inf
                where = -1
                for a in range(kh):
                    y = y0 + a * dh
                    if y < 0 or y >= h_:
                        continue
                    row = plane[y]
                    for b in range(kw):
                        xx = x0 + b * dw
                        if 0 <= xx < w_:
                            v = row[xx]
                            if where < 0 or v > best or np.isnan(v):
                                best = v
                                where = y * w_ + xx
                out[n, c, i, j] = best
                argmax[n, c, i, j] = where


@njit(cache=True, nogil=True)
def maxpool2x2(x, out, argmax):
    """maxpool_forward for 2x2 windows at stride 2 that lie inside the image: unrolled and branch-free, so
    LLVM vectorises it (about 7x faster than the general loop, whose data-dependent branches mispredict).
    The comparisons combine with `|`, not `or`: short-circuit branches kept the loop scalar (2.5x slower)."""
    n_, c_, _, w_ = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for nc in range(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            r0, r1 = x[n, c, 2 * i], x[n, c, 2 * i + 1]
            o, where = out[n, c, i], argmax[n, c, i]
            base = 2 * i * w_
            for j in range(ow):
                a, b, p, q = r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]
                take_b = (b > a) | np.isnan(b)         # PyTorch's rule: a later element wins if larger or NaN
                m1 = b if take_b else a
                k1 = 1 if take_b else 0
                take_q = (q > p) | np.isnan(q)
                m2 = q if take_q else p
                k2 = w_ + 1 if take_q else w_
                second = (m2 > m1) | np.isnan(m2)
                o[j] = m2 if second else m1
                where[j] = base + 2 * j + (k2 if second else k1)


@njit(cache=True, nogil=True)
def maxpool2x2_backward(grad, argmax, dx):
    """maxpool_backward for maxpool2x2's windows: writes every element of dx (the gradient in the window's
    winner, zeros elsewhere), so dx needs no zeroing pass and the loop needs no division."""
    n_, c_, h_, w_ = dx.shape
    oh, ow = grad.shape[2], grad.shape[3]
    zero = grad.dtype.type(0)
    for nc in range(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            d0, d1, g, where = dx[n, c, 2 * i], dx[n, c, 2 * i + 1], grad[n, c, i], argmax[n, c, i]
            base = 2 * i * w_
            for j in range(ow):
                k, v = where[j] - base - 2 * j, g[j]
                d0[2 * j] = v if k == 0 else zero
                d0[2 * j + 1] = v if k == 1 else zero
                d1[2 * j] = v if k == w_ else zero
                d1[2 * j + 1] = v if k == w_ + 1 else zero
            for xx in range(2 * ow, w_):                 # an odd last column lies in no window
                d0[xx] = zero
                d1[xx] = zero
        for y in range(2 * oh, h_):                      # and so does an odd last row
            dx[n, c, y, :] = zero


@njit(cache=True, nogil=True)
def maxpool_backward(grad, argmax, dx):
    n_, c_, oh, ow = grad.shape
    w_ = dx.shape[3]
    for nc in range(n_ * c_):
        n, c = nc // c_, nc % c_
        for i in range(oh):
            for j in range(ow):
                where = argmax[n, c, i, j]
                dx[n, c, where // w_, where % w_] += grad[n, c, i, j]


@njit(cache=True, nogil=True)
def _avg_window(i, k, s, p, size):
    """PyTorch's avg-pool window: clipped [start, end) and the size of the window clipped to the padding."""
    start = i * s - p
    end = min(start + k, size + p)
    padded = end - start
    return max(start, 0), min(end, size), padded


@njit(cache=True, nogil=True)
def avgpool_forward(x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, out):
    n_, c_, h_, w_ = x.shape
    for nc in range(n_ * c_):
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


@njit(cache=True, nogil=True)
def avgpool_backward(grad, kh, kw, sh, sw, ph, pw, count_include_pad, dx):
    n_, c_, oh, ow = grad.shape
    h_, w_ = dx.shape[2], dx.shape[3]
    for nc in range(n_ * c_):
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


# The im2col pair indexes flat arrays with unsigned offsets: with signed ones Numba adds a negative-index
# check per access, which keeps LLVM from vectorising the row copies (about 2x slower). Both layouts of the
# columns share one loop: row r of sample n starts at base + n*sample_step + r*row_step of the flat array, and
# the loops run in the columns' memory order (in the wide layout, samples inside rows: 3x faster on 4x4 inputs).
@njit(cache=True, nogil=True)
def _window_starts(c_, hp, wp, kh, kw, dh, dw):
    """Offset in a sample of the first input element that column row r = (c*kh + a)*kw + b reads (divisions
    once per row rather than once per row and sample)."""
    starts = np.empty(c_ * kh * kw, dtype=np.uint64)
    for r in range(c_ * kh * kw):
        c, a, b = r // (kh * kw), (r // kw) % kh, r % kw
        starts[r] = (c * hp + a * dh) * wp + b * dw
    return starts


@njit(cache=True, nogil=True)
def _im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow, cf, base, sample_step, row_step):
    n_, c_, hp, wp = xp.shape
    xf = xp.reshape(-1)
    rows, width, stride, step = c_ * kh * kw, uint64(ow), uint64(sw), uint64(sh * wp)
    starts, sample_size = _window_starts(c_, hp, wp, kh, kw, dh, dw), uint64(c_ * hp * wp)
    wide = row_step > sample_step
    for outer in range(rows if wide else n_):
        for inner in range(n_ if wide else rows):
            r, n = (outer, inner) if wide else (inner, outer)
            k = uint64(base + n * sample_step + r * row_step)
            src = uint64(n) * sample_size + starts[r]
            for _ in range(oh):
                if sw == 1:
                    for j in range(width):
                        cf[k + j] = xf[src + j]
                else:
                    for j in range(width):
                        cf[k + j] = xf[src + j * stride]
                k += width
                src += step


@njit(cache=True, nogil=True)
def _col2im(cf, kh, kw, sh, sw, dh, dw, oh, ow, dxp, base, sample_step, row_step):
    n_, c_, hp, wp = dxp.shape
    df = dxp.reshape(-1)
    rows, width, stride, step = c_ * kh * kw, uint64(ow), uint64(sw), uint64(sh * wp)
    starts, sample_size = _window_starts(c_, hp, wp, kh, kw, dh, dw), uint64(c_ * hp * wp)
    wide = row_step > sample_step
    for outer in range(rows if wide else n_):
        for inner in range(n_ if wide else rows):
            r, n = (outer, inner) if wide else (inner, outer)
            k = uint64(base + n * sample_step + r * row_step)
            dst = uint64(n) * sample_size + starts[r]
            for _ in range(oh):
                if sw == 1:
                    for j in range(width):
                        df[dst + j] += cf[k + j]
                else:
                    for j in range(width):
                        df[dst + j * stride] += cf[k + j]
                k += width
                dst += step


@njit(cache=True, nogil=True)
def im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow, cols):
    """cols[n, (c*kh + a)*kw + b, i*ow + j] = xp[n, c, i*sh + a*dh, j*sw + b*dw] from the padded input xp."""
    _im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow, cols.reshape(-1), 0, cols.shape[1] * oh * ow, oh * ow)


@njit(cache=True, nogil=True)
def col2im(cols, kh, kw, sh, sw, dh, dw, oh, ow, dxp):
    """The adjoint of im2col: dxp (the zeroed, padded input gradient) accumulates every entry of cols."""
    _col2im(cols.reshape(-1), kh, kw, sh, sw, dh, dw, oh, ow, dxp, 0, cols.shape[1] * oh * ow, oh * ow)


@njit(cache=True, nogil=True)
def im2col_wide(xp, kh, kw, sh, sw, dh, dw, oh, ow, cols, first):
    """im2col into wide columns cols [C*kh*kw, N, oh*ow]: the whole batch side by side, so that one GEMM with
    the 2-D view [C*kh*kw, N*oh*ow] covers it. xp holds the N samples from `first` on (a batch slice)."""
    _im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow, cols.reshape(-1), first * oh * ow, oh * ow, cols.shape[1] * oh * ow)


@njit(cache=True, nogil=True)
def col2im_wide(cols, kh, kw, sh, sw, dh, dw, oh, ow, dxp, first):
    """The adjoint of im2col_wide: dxp (zeroed, padded; samples from `first` on) accumulates wide columns."""
    _col2im(cols.reshape(-1), kh, kw, sh, sw, dh, dw, oh, ow, dxp, first * oh * ow, oh * ow, cols.shape[1] * oh * ow)


@njit(cache=True, nogil=True)
def bias_act(y, bias, has_bias, relu):
    """y[o, f, p] = act(y[o, f, p] + bias[f]) in place (act: relu or identity)."""
    outer, f_, p_ = y.shape
    for o in range(outer):
        for f in range(f_):
            row = y[o, f]
            add = bias[f] if has_bias else 0.0
            if relu:
                for p in range(p_):
                    row[p] = max(row[p] + add, 0.0)
            else:
                for p in range(p_):
                    row[p] += add


@njit(cache=True, nogil=True, fastmath=SUMS)
def act_grad_bias(grad, out, relu, has_bias, dgrad, dbias):
    """dgrad = grad masked by out > 0 (relu) or copied; dbias[o, f] = sum of dgrad[o, f, :] when has_bias."""
    outer, f_, p_ = grad.shape
    for o in range(outer):
        for f in range(f_):
            g, d = grad[o, f], dgrad[o, f]
            if relu:
                y = out[o, f]
                for p in range(p_):
                    d[p] = g[p] if y[p] > 0 else 0.0
            else:
                for p in range(p_):
                    d[p] = g[p]
            if has_bias:
                total = 0.0
                for p in range(p_):
                    total += d[p]
                dbias[o, f] = total


# LSTM kernels: PyTorch's gate order i, f, g, o; feature-major steps ([4H, N] gates, [H, N] states), so every
# inner loop runs over one contiguous row of the batch. Each loop touches few arrays: LLVM vectorises a loop
# only when its runtime alias checks between the arrays stay few (a fused ten-array loop ran scalar, 4x slower).
# `one` is 1 in the arrays' dtype: a Python literal would promote float32 arithmetic to float64.
@njit(cache=True, nogil=True)
def lstm_preact(gates, xw, t, bias):
    """gates [4H, N] holds W_hh h; add the input projection xw[:, t] and the bias, and negate the sigmoid rows
    (i, f, o) so that one exp gives exp(-x) for them (g's rows keep x for tanh)."""
    rows, n_ = gates.shape
    hidden = rows // 4
    for j in range(rows):
        row, src, b = gates[j], xw[j, t], bias[j]
        if 2 * hidden <= j < 3 * hidden:
            for n in range(n_):
                row[n] = src[n] + b + row[n]
        else:
            for n in range(n_):
                row[n] = -(src[n] + b + row[n])


@njit(cache=True, error_model="numpy")
def lstm_cell(gates, c_prev, one, c):
    """gates: exp(-x) on the rows of i, f, o and tanh(x) on g's; in place to the sigmoids; c = f * c_prev + i * g."""
    hidden, n_ = c.shape
    for j in range(4 * hidden):
        if j < 2 * hidden or j >= 3 * hidden:
            row = gates[j]
            for n in range(n_):
                row[n] = one / (one + row[n])
    for j in range(hidden):
        i, f, g, cp, cn = gates[j], gates[hidden + j], gates[2 * hidden + j], c_prev[j], c[j]
        for n in range(n_):
            cn[n] = f[n] * cp[n] + i[n] * g[n]


@njit(cache=True, nogil=True, fastmath=SUMS)
def lstm_cell_backward(dh, dy, gates, tanh_c, c_prev, one, dc, grads, t, dbias):
    """One LSTM step back from dh [H, N] (the carry from the next step) plus dy [N, H] (the step's output
    gradient, batch-major), added into dh in place: gates [4H, N] post-activation; the carried cell gradient
    dc [H, N] becomes the previous step's in place; grads[:, t] ([4H, T, N]) gets the pre-activation gate
    gradients and dbias [4H] adds their sums over the batch."""
    hidden, n_ = dh.shape
    for j in range(hidden):
        d, o, tc, dcr = dh[j], gates[3 * hidden + j], tanh_c[j], dc[j]
        for n in range(n_):                          # a strided read of dy's column, no transposed copy
            d[n] += dy[n, j]
        for n in range(n_):                          # dc becomes this step's full cell gradient
            dcr[n] += d[n] * o[n] * (one - tc[n] * tc[n])
        do = grads[3 * hidden + j, t]
        for n in range(n_):
            do[n] = d[n] * tc[n] * o[n] * (one - o[n])
        i, g, di = gates[j], gates[2 * hidden + j], grads[j, t]
        for n in range(n_):
            di[n] = dcr[n] * g[n] * i[n] * (one - i[n])
        dg = grads[2 * hidden + j, t]
        for n in range(n_):
            dg[n] = dcr[n] * i[n] * (one - g[n] * g[n])
        f, cp, df = gates[hidden + j], c_prev[j], grads[hidden + j, t]
        for n in range(n_):
            df[n] = dcr[n] * cp[n] * f[n] * (one - f[n])
        for n in range(n_):                          # the carry into the previous step
            dcr[n] *= f[n]
    for j in range(4 * hidden):
        row = grads[j, t]
        total = one - one
        for n in range(n_):
            total += row[n]
        dbias[j] += total


@njit(cache=True, fastmath={"contract"})
def gru_cell_backward(dh, acts, hw_n, h_prev, dgates, dhw, dh_carry):
    """One GRU step's backward: pre-activation gradients of r, z, n on the input side (dgates) and on the
    hidden side (dhw, where n's is scaled by r), and dh_carry = dh * z, the direct path to h_prev."""
    n_, hidden = dh.shape
    for b in range(n_):
        ar, az, an = acts[b, :hidden], acts[b, hidden:2 * hidden], acts[b, 2 * hidden:]
        gr, gz, gn = dgates[b, :hidden], dgates[b, hidden:2 * hidden], dgates[b, 2 * hidden:]
        hr, hz, hn = dhw[b, :hidden], dhw[b, hidden:2 * hidden], dhw[b, 2 * hidden:]
        dhb, hwb, hpb, carry = dh[b], hw_n[b], h_prev[b], dh_carry[b]
        for k in range(hidden):
            r, z, n, d = ar[k], az[k], an[k], dhb[k]
            dn = d * (1 - z) * (1 - n * n)
            dr = dn * hwb[k] * r * (1 - r)
            dz = d * (hpb[k] - n) * z * (1 - z)
            gr[k] = dr
            gz[k] = dz
            gn[k] = dn
            hr[k] = dr
            hz[k] = dz
            hn[k] = dn * r
            carry[k] = d * z


@njit(cache=True, nogil=True)
def sgd_update(param, grad, buf, lr, momentum, weight_decay, nesterov, first):
    """PyTorch's SGD step on flat arrays in one pass (buf: the momentum buffer, unused without momentum)."""
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i] if weight_decay else grad[i]
        if momentum:
            b = g if first else momentum * buf[i] + g
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] -= lr * g


@njit(cache=True, nogil=True)
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


@vectorize(["float32(float32)", "float64(float64)"], cache=True)
def erf(x):
    """The error function, elementwise in the input's precision (GELU's exact form needs it)."""
    return math.erf(x)
