"""conv1d and conv2d as im2col + gemm (1-D runs as 2-D with height 1), bias and a fused relu/leaky_relu in one pass."""
from __future__ import annotations

from ...runtime.geometry import window_geometry, window_out_size
from ..device import empty
from ..kernels.conv import col2im, im2col
from ..kernels.matmul import gemm
from . import CUDA
from .common import FUSED, activation_grad, as4d, bias_activation, bias_grad


def group_slices(w3, cols, y, groups: int):
    """Per group: its filters' weights, its channels' columns and its filters' outputs (views)."""
    fg, cg = w3.shape[1] // groups, cols.shape[1] // groups
    return [(w3[:, g * fg:(g + 1) * fg, :], cols[:, g * cg:(g + 1) * cg, :], y[:, g * fg:(g + 1) * fg, :])
            for g in range(groups)]


@CUDA.layer("conv1d", "conv2d", fuses=FUSED)
class Conv:
    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        rank = len(attrs["kernel"])
        x4 = as4d(x)
        n, _, h, w = x4.shape
        filters, groups = weight.shape[0], attrs["groups"]
        kernel, stride, pads, dilation = window_geometry(attrs, rank)
        same = attrs["padding"] == "same"
        out_hw = tuple(window_out_size(size, k, s, p, d, same=same)
                       for size, k, s, p, d in zip((h, w), kernel, stride, pads, dilation))
        geo = (kernel, stride, pads, dilation, out_hw)
        cols = im2col(x4, *geo)                                    # (n, c*kh*kw, oh*ow)
        w3 = weight.reshape(1, filters, weight.size // filters)
        if groups == 1:
            y = gemm(w3, cols)
        else:
            y = empty((n, filters, out_hw[0] * out_hw[1]))
            for ws, cs, ys in group_slices(w3, cols, y, groups):
                gemm(ws, cs, c=ys)
        act = bias_activation(ctx, y, params, out_hw[0] * out_hw[1])
        if train:
            ctx.update(act_out=y if act else None, cols=cols, w3=w3, x_shape=x.shape, x4_shape=x4.shape, geo=geo,
                       groups=groups, has_bias="bias" in params, w_shape=weight.shape)
        return y.reshape(n, filters, out_hw[1]) if rank == 1 else y.reshape(n, filters, *out_hw)

    def backward(ops, ctx, grad):
        grad = activation_grad(ctx, grad)
        cols, w3, groups = ctx["cols"], ctx["w3"], ctx["groups"]
        n, filters = grad.shape[0], w3.shape[1]
        dy = grad.reshape(n, filters, grad.size // (n * filters))
        dw3 = empty(w3.shape)
        dcols = empty(cols.shape)
        if groups == 1:
            gemm(dy, cols, c=dw3, trans_b=True)
            gemm(w3, dy, c=dcols, trans_a=True)
        else:
            for (ws, cs, ds), (dws, dcs, _) in zip(group_slices(w3, cols, dy, groups),
                                                   group_slices(dw3, dcols, dy, groups)):
                gemm(ds, cs, c=dws, trans_b=True)
                gemm(ws, ds, c=dcs, trans_a=True)
        dx = col2im(dcols, ctx["x4_shape"], *ctx["geo"])
        grads = {"weight": dw3.reshape(*ctx["w_shape"])}
        if ctx["has_bias"]:
            grads["bias"] = bias_grad(dy, filters, dy.shape[2])
        return [dx.reshape(*ctx["x_shape"])], grads
