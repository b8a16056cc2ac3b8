"""im2col and col2im for 1-D and 2-D convolutions (stride, padding, dilation), channels first.

cols has shape (batch, channels * kh * kw, oh * ow): a convolution is then one batched gemm
with the weight matrix (filters, channels * kh * kw), and its output is already NCHW.
col2im gathers (no atomics): every input pixel sums the column entries that read it.
"""
from __future__ import annotations

from numba import cuda

from ..device import F0, empty, grid1d, launch


@cuda.jit(cache=True)
def _im2col(x, cols, channels, height, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    i = cuda.grid(1)
    positions = oh * ow
    rows = channels * kh * kw
    while i < cols.size:
        p = i % positions
        r = (i // positions) % rows
        n = i // (positions * rows)
        c = r // (kh * kw)
        ky = (r // kw) % kh
        kx = r % kw
        y = (p // ow) * sh - ph + ky * dh
        xx = (p % ow) * sw - pw + kx * dw
        v = F0
        if 0 <= y < height and 0 <= xx < width:
            v = x[((n * channels + c) * height + y) * width + xx]
        cols[i] = v
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _col2im(cols, dx, channels, height, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    i = cuda.grid(1)
    positions = oh * ow
    rows = channels * kh * kw
    while i < dx.size:
        xx = i % width
        y = (i // width) % height
        c = (i // (width * height)) % channels
        n = i // (width * height * channels)
        total = F0
        for ky in range(kh):
            ty = y + ph - ky * dh
            if ty >= 0 and ty % sh == 0 and ty // sh < oh:
                for kx in range(kw):
                    tx = xx + pw - kx * dw
                    if tx >= 0 and tx % sw == 0 and tx // sw < ow:
                        r = (c * kh + ky) * kw + kx
                        total += cols[(n * rows + r) * positions + (ty // sh) * ow + tx // sw]
        dx[i] = total
        i += cuda.gridsize(1)


def _geometry(in_shape, kernel, stride, padding, dilation, out_hw):
    """Normalise 1-D geometry to 2-D (height 1)."""
    if len(in_shape) == 3:    # (batch, channels, length)
        n, c, w = in_shape
        return (n, c, 1, w, 1, kernel[0], 1, stride[0], 0, padding[0], 1, dilation[0], 1, out_hw[0])
    n, c, h, w = in_shape
    return (n, c, h, w, *kernel, *stride, *padding, *dilation, *out_hw)


def im2col(x, kernel, stride, padding, dilation, out_hw):
    """x (batch, C, H, W) or (batch, C, L) -> cols (batch, C*kh*kw, oh*ow)."""
    n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = _geometry(x.shape, kernel, stride, padding, dilation, out_hw)
    cols = empty((n, c * kh * kw, oh * ow))
    launch(_im2col, grid1d(cols.size), x.reshape(x.size), cols.reshape(cols.size), c, h, w, kh, kw, sh, sw, ph, pw,
           dh, dw, oh, ow)
    return cols


def col2im(cols, x_shape, kernel, stride, padding, dilation, out_hw):
    """The adjoint of im2col: column gradients back to an input-shaped gradient."""
    _, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = _geometry(x_shape, kernel, stride, padding, dilation, out_hw)
    dx = empty(tuple(x_shape))
    launch(_col2im, grid1d(dx.size), cols.reshape(cols.size), dx.reshape(dx.size), c, h, w, kh, kw, sh, sw, ph, pw,
           dh, dw, oh, ow)
    return dx


__all__ = ["col2im", "im2col"]
