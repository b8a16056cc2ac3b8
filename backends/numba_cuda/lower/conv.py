"""conv1d and conv2d as im2col + gemm (1-D runs as 2-D with height 1), bias and a fused relu/leaky_relu in one pass;
conv_transpose1d/2d as the same pair run backwards (gemm + col2im)."""
from __future__ import annotations

from ...runtime.geometry import transposed_geometry, transposed_out_size, window_geometry, window_out_size
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


def _grouped_gemm(a, b, c, groups: int, trans_a=False, trans_b=False):
    """c = op(a) @ op(b), each of `groups` slices of axis 1 of a, b and c on its own."""
    if groups == 1:
        return gemm(a, b, c=c, trans_a=trans_a, trans_b=trans_b)
    def part(array, g):
        size = array.shape[1] // groups
        return array[:, g * size:(g + 1) * size, :]

    for g in range(groups):
        gemm(part(a, g), part(b, g), c=part(c, g), trans_a=trans_a, trans_b=trans_b)
    return c


@CUDA.layer("conv_transpose1d", "conv_transpose2d", fuses=FUSED)
class ConvTranspose:
    """The input gradient of a convolution whose output is this layer's input: columns W^T @ x, then col2im;
    backward: im2col of the output gradient D, the input gradient W @ D, the weight gradient x @ D^T."""

    def forward(ops, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        x4 = as4d(x)
        n, c, h, w = x4.shape
        filters, groups = attrs["filters"], attrs["groups"]
        kernel, stride, pads, dilation, extra = transposed_geometry(attrs, len(attrs["kernel"]))
        out_hw = transposed_out_size((h, w), kernel, stride, pads, dilation, extra)
        geo = (kernel, stride, pads, dilation, (h, w))
        x3 = x4.reshape(n, c, h * w)
        w3 = weight.reshape(1, c, weight.size // c)
        cols = _grouped_gemm(w3, x3, empty((n, filters * kernel[0] * kernel[1], h * w)), groups, trans_a=True)
        y = col2im(cols, (n, filters, *out_hw), *geo).reshape(n, filters, out_hw[0] * out_hw[1])
        act = bias_activation(ctx, y, params, out_hw[0] * out_hw[1])
        if train:
            ctx.update(act_out=y if act else None, x3=x3, w3=w3, geo=geo, groups=groups, x_shape=x.shape,
                       out_shape=(n, filters, *out_hw), has_bias="bias" in params, w_shape=weight.shape)
        return y.reshape(n, filters, out_hw[1]) if len(x.shape) == 3 else y.reshape(n, filters, *out_hw)

    def backward(ops, ctx, grad):
        grad = activation_grad(ctx, grad)
        x3, w3, groups = ctx["x3"], ctx["w3"], ctx["groups"]
        n, filters, oh, ow = ctx["out_shape"]
        dcols = im2col(grad.reshape(n, filters, oh, ow), *ctx["geo"])
        dw3 = _grouped_gemm(x3, dcols, empty(w3.shape), groups, trans_b=True)      # summed over the batch
        dx = _grouped_gemm(w3, dcols, empty(x3.shape), groups)
        grads = {"weight": dw3.reshape(*ctx["w_shape"])}
        if ctx["has_bias"]:
            grads["bias"] = bias_grad(grad, filters, oh * ow)
        return [dx.reshape(*ctx["x_shape"])], grads
