"""Window pools (max, avg, lp), global pools and the adaptive average pool, all on one Pool kernel."""
from __future__ import annotations

from ...runtime.geometry import window_geometry, window_out_size
from ..kernels.pool import Pool
from . import CUDA
from .common import as4d

MODES = {"maxpool": "max", "avgpool": "avg", "lppool": "lp"}      # the Pool kernel's mode of each window pool


def pool_forward(ctx, x, pool: Pool, train: bool):
    """`pool` over x ([N, C, L] or [N, C, H, W]), keeping what pool_backward needs."""
    y, arg = pool.forward(as4d(x))
    if train:
        ctx.update(pool=pool, x=x, y=y, arg=arg)
    return y.reshape(*x.shape[:2], *y.shape[3 if len(x.shape) == 3 else 2:])


def pool_backward(ctx, grad):
    x = ctx["x"]
    return ctx["pool"].backward(grad, as4d(x), ctx["y"], ctx["arg"]).reshape(*x.shape)


@CUDA.layer("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "lppool2d")
class WindowPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        x4 = as4d(x)
        mode = MODES[ctx["op"][:-2]]
        kernel, stride, pads, dilation = window_geometry(attrs, len(attrs["kernel"]))
        options = {}                     # the attrs only one mode has
        if mode == "avg":
            options["count_include_pad"] = attrs["count_include_pad"]
        if mode == "lp":
            options["p"] = attrs["norm"]
        out_hw = tuple(window_out_size(size, k, s, p, d, attrs["ceil_mode"])
                       for size, k, s, p, d in zip(x4.shape[2:], kernel, stride, pads, dilation))
        pool = Pool(mode, x4.shape, out_hw, kernel, stride, pads, dilation, **options)
        return pool_forward(ctx, x, pool, train)

    def backward(ops, ctx, grad):
        return [pool_backward(ctx, grad)], {}


@CUDA.layer("global_avgpool", "global_maxpool")
class GlobalPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        n, c = x.shape[0], x.shape[1]
        x4 = x.reshape(n, c, 1, x.size // (n * c))
        mode = "avg" if ctx["op"] == "global_avgpool" else "max"
        y = pool_forward(ctx, x4, Pool(mode, x4.shape, (1, 1)), train)
        ctx["x_shape"] = x.shape
        return y.reshape(n, c)

    def backward(ops, ctx, grad):
        return [pool_backward(ctx, grad.reshape(*grad.shape, 1, 1)).reshape(*ctx["x_shape"])], {}


@CUDA.layer("adaptive_avgpool2d")
class AdaptiveAvgPool:
    def forward(ops, ctx, inputs, params, attrs, train):
        x = inputs[0]
        return pool_forward(ctx, x, Pool("avg", x.shape, tuple(attrs["output"]), adaptive=True), train)

    def backward(ops, ctx, grad):
        return [pool_backward(ctx, grad)], {}
