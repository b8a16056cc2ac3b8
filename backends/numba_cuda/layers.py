"""CudaOps layer kernels: dense, RBM, activations, shapes, merges, normalisation, dropout, embedding, conv, pools.

Each method follows backends/runtime/ops.py: forward keeps what backward needs in ctx; every
array is a device array, so a training step never copies activations to the host.
"""
from __future__ import annotations

import numpy as np

from ..runtime.geometry import window_geometry, window_out_size
from .device import empty
from .kernels import elementwise as ew
from .kernels import embedding as emb
from .kernels import norm
from .kernels import random as rnd
from .kernels.conv import col2im, im2col
from .kernels.matmul import gemm
from .kernels.pool import Pool
from .kernels.reduce import channel_sums


def _bias_grad(grad, channels: int, inner: int):
    return channel_sums(grad, channels, inner)[0]


def _fused_act(ctx, y, params, inner: int):
    """Bias and the runtime's fused activation (ctx['activation'], see FUSED_ACTIVATIONS) in place on y."""
    act = ctx.get("activation")
    if "bias" in params:
        ew.bias_activation(y, params["bias"], inner, act or "identity")
    elif act:
        ew.activation(y, act, out=y)
    return act


def _fused_act_grad(ctx, grad):
    """The fused activation's backward (relu: its derivative reads the output)."""
    out = ctx.get("act_out")
    return grad if out is None else ew.activation_backward(out, out, grad, ctx["activation"])


def _as4d(x):
    return x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]) if len(x.shape) == 3 else x


class DenseOps:
    """linear, rbm and tied (an autoencoder decoder sharing an rbm's weight)."""

    def forward_linear(self, ctx, inputs, params, attrs, train):
        x, weight = inputs[0], params["weight"]
        x2 = x.reshape(x.size // x.shape[len(x.shape) - 1], x.shape[len(x.shape) - 1])
        y = gemm(x2, weight, trans_b=True)
        act = _fused_act(ctx, y, params, 1)
        if train:
            ctx.update(x2=x2, x_shape=x.shape, weight=weight, has_bias="bias" in params, act_out=y if act else None)
        return y.reshape(*x.shape[:-1], weight.shape[0])

    def backward_linear(self, ctx, grad):
        grad = _fused_act_grad(ctx, grad)
        g2 = grad.reshape(grad.size // grad.shape[len(grad.shape) - 1], grad.shape[len(grad.shape) - 1])
        grads = {"weight": gemm(g2, ctx["x2"], trans_a=True)}
        if ctx["has_bias"]:
            grads["bias"] = _bias_grad(g2, g2.shape[1], 1)
        return [gemm(g2, ctx["weight"]).reshape(ctx["x_shape"])], grads

    def forward_rbm(self, ctx, inputs, params, attrs, train):
        """An unrolled RBM: the hidden units' mean given the visible ones."""
        x, weight = inputs[0], params["weight"]
        pre = gemm(x, weight, trans_b=True)
        units = attrs.get("hidden_units", "bernoulli")
        out, _ = rnd.units(pre, params["bias"], units, self.states(), draw=False)
        if train:
            ctx.update(x2=x, x_shape=x.shape, weight=weight, has_bias=True, units=units, out=out,
                       visible_bias=params["visible_bias"])
        return out

    def backward_rbm(self, ctx, grad):
        units, out = ctx["units"], ctx["out"]
        if units != "gaussian":
            grad = ew.activation_backward(out, out, grad, "sigmoid" if units == "bernoulli" else "relu")
        grad_inputs, grads = self.backward_linear(ctx, grad)
        grads["visible_bias"] = ew.zeros(ctx["visible_bias"].shape)
        return grad_inputs, grads


    def forward_tied(self, ctx, inputs, params, attrs, train):
        """A tied decoder: x W + bias with W (hidden, visible) borrowed from an rbm layer."""
        x, weight = inputs[0], params["weight"]
        y = ew.bias_activation(gemm(x, weight), params["bias"], 1)
        if train:
            ctx.update(x=x, weight=weight)
        return y

    def backward_tied(self, ctx, grad):
        x, weight = ctx["x"], ctx["weight"]
        return [gemm(grad, weight, trans_b=True)], {"weight": gemm(x, grad, trans_a=True),
                                                    "bias": _bias_grad(grad, grad.shape[1], 1)}


class ActivationOps:
    """relu, leaky_relu, sigmoid, tanh, step, sign, identity, softmax."""

    def _act_forward(self, name, ctx, inputs, attrs):
        x = inputs[0]
        slope = attrs.get("slope", 0.01)
        y = ew.activation(x, name, slope)
        ctx.update(x=x, y=y, name=name, slope=slope)
        return y

    def _act_backward(self, ctx, grad):
        return [ew.activation_backward(ctx["x"], ctx["y"], grad, ctx["name"], ctx["slope"])], {}

    def forward_relu(self, ctx, inputs, params, attrs, train):
        return self._act_forward("relu", ctx, inputs, attrs)

    def forward_leaky_relu(self, ctx, inputs, params, attrs, train):
        return self._act_forward("leaky_relu", ctx, inputs, attrs)

    def forward_sigmoid(self, ctx, inputs, params, attrs, train):
        return self._act_forward("sigmoid", ctx, inputs, attrs)

    def forward_tanh(self, ctx, inputs, params, attrs, train):
        return self._act_forward("tanh", ctx, inputs, attrs)

    def forward_step(self, ctx, inputs, params, attrs, train):
        return self._act_forward("step", ctx, inputs, attrs)

    def forward_sign(self, ctx, inputs, params, attrs, train):
        return self._act_forward("sign", ctx, inputs, attrs)

    def forward_identity(self, ctx, inputs, params, attrs, train):
        return inputs[0]

    def backward_identity(self, ctx, grad):
        return [grad], {}

    backward_relu = backward_leaky_relu = backward_sigmoid = backward_tanh = _act_backward
    backward_step = backward_sign = _act_backward

    def forward_softmax(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        axis = attrs.get("axis", -1)
        axis = axis + 1 if axis >= 0 else len(x.shape) + axis
        y = ew.softmax(x, axis)
        ctx.update(y=y, axis=axis)
        return y

    def backward_softmax(self, ctx, grad):
        return [ew.softmax_backward(ctx["y"], grad, ctx["axis"])], {}


class ShapeMergeOps:
    """flatten, reshape, add, mul, concat."""

    def forward_flatten(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], x.size // x.shape[0])

    def forward_reshape(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        shape = list(attrs["shape"])
        if -1 in shape:
            known = int(np.prod([d for d in shape if d != -1]))
            shape[shape.index(-1)] = x.size // (x.shape[0] * known)
        return x.reshape(x.shape[0], *shape)

    def backward_flatten(self, ctx, grad):
        return [grad.reshape(*ctx["x_shape"])], {}

    backward_reshape = backward_flatten

    def forward_add(self, ctx, inputs, params, attrs, train):
        ctx["count"] = len(inputs)
        out = ew.add(inputs[0], inputs[1])
        for x in inputs[2:]:
            ew.add(out, x, out=out)
        return out

    def backward_add(self, ctx, grad):
        return [grad] * ctx["count"], {}

    def forward_mul(self, ctx, inputs, params, attrs, train):
        ctx["inputs"] = inputs
        out = ew.mul(inputs[0], inputs[1])
        for x in inputs[2:]:
            ew.mul(out, x, out=out)
        return out

    def backward_mul(self, ctx, grad):
        inputs = ctx["inputs"]
        grads = []
        for i in range(len(inputs)):
            g = grad
            for j, x in enumerate(inputs):
                if j != i:
                    g = ew.mul(g, x)
            grads.append(g)
        return grads, {}

    def forward_concat(self, ctx, inputs, params, attrs, train):
        axis = attrs.get("axis", 0)
        axis = axis + 1 if axis >= 0 else len(inputs[0].shape) + axis
        sizes = [x.shape[axis] for x in inputs]
        shape = list(inputs[0].shape)
        shape[axis] = sum(sizes)
        ctx.update(axis=axis, sizes=sizes)
        return ew.concat(inputs, tuple(shape), axis)

    def backward_concat(self, ctx, grad):
        return ew.split(grad, ctx["sizes"], ctx["axis"]), {}


class NormOps:
    """dropout, batchnorm, lrn, embedding."""

    def forward_dropout(self, ctx, inputs, params, attrs, train):
        x, p = inputs[0], attrs.get("p", 0.5)
        if not train or p == 0:
            ctx["mask"] = None
            return x
        y, ctx["mask"] = rnd.dropout(x, p, self.states())
        return y

    def backward_dropout(self, ctx, grad):
        mask = ctx["mask"]
        return [grad if mask is None else ew.mul(grad, mask)], {}

    def forward_batchnorm(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        y, mean, inv_std = norm.batchnorm_forward(x, params.get("weight"), params.get("bias"), params["running_mean"],
                                                  params["running_var"], attrs.get("eps", 1e-5),
                                                  attrs.get("momentum", 0.1), train)
        if train:
            if "num_batches_tracked" in params:
                params["num_batches_tracked"] += 1          # a host-side 0-d counter
            ctx.update(x=x, mean=mean, inv_std=inv_std, weight=params.get("weight"))
        return y

    def backward_batchnorm(self, ctx, grad):
        dx, dweight, dbias = norm.batchnorm_backward(ctx["x"], grad, ctx["mean"], ctx["inv_std"], ctx["weight"])
        return [dx], ({"weight": dweight, "bias": dbias} if dweight is not None else {})

    def forward_lrn(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        y, base = norm.lrn_forward(x, attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"])
        if train:
            ctx.update(x=x, base=base, attrs=(attrs["size"], attrs["alpha"], attrs["beta"]))
        return y

    def backward_lrn(self, ctx, grad):
        return [norm.lrn_backward(ctx["x"], ctx["base"], grad, *ctx["attrs"])], {}

    def forward_embedding(self, ctx, inputs, params, attrs, train):
        ids, weight = inputs[0], params["weight"]
        y = emb.gather(ids, weight, self.id_flag(weight.shape[0]))
        if train:
            ctx.update(ids=ids, vocab=weight.shape[0], padding_idx=attrs.get("padding_idx"))
        return y

    def backward_embedding(self, ctx, grad):
        return [None], {"weight": emb.scatter_add(ctx["ids"], grad, ctx["vocab"], ctx["padding_idx"])}


class ConvPoolOps:
    """conv1d/2d, window pools, global and adaptive pools (1-D layers run as 2-D with height 1)."""

    def _conv_forward(self, ctx, inputs, params, attrs, train, rank):
        x = inputs[0]
        x4 = _as4d(x)
        n, _, h, w = x4.shape
        weight = params["weight"]
        filters, groups = weight.shape[0], attrs.get("groups", 1)
        kernel, stride, pads, dilation = window_geometry(attrs, rank)
        same = attrs.get("padding") == "same"
        out_hw = tuple(window_out_size(size, k, s, p, d, same=same)
                       for size, k, s, p, d in zip((h, w), kernel, stride, pads, dilation))
        geo = (kernel, stride, pads, dilation, out_hw)
        cols = im2col(x4, *geo)                                    # (n, c*kh*kw, oh*ow)
        w3 = weight.reshape(1, filters, weight.size // filters)
        if groups == 1:
            y = gemm(w3, cols)
        else:
            y = empty((n, filters, out_hw[0] * out_hw[1]))
            for g, (ws, cs, ys) in enumerate(self._group_slices(w3, cols, y, groups)):
                gemm(ws, cs, c=ys)
        act = _fused_act(ctx, y, params, out_hw[0] * out_hw[1])
        if train:
            ctx.update(act_out=y if act else None, cols=cols, w3=w3, x_shape=x.shape, x4_shape=x4.shape, geo=geo, groups=groups,
                       has_bias="bias" in params, w_shape=weight.shape)
        return y.reshape(n, filters, out_hw[1]) if rank == 1 else y.reshape(n, filters, *out_hw)

    @staticmethod
    def _group_slices(w3, cols, y, groups):
        fg, cg = w3.shape[1] // groups, cols.shape[1] // groups
        return [(w3[:, g * fg:(g + 1) * fg, :], cols[:, g * cg:(g + 1) * cg, :], y[:, g * fg:(g + 1) * fg, :])
                for g in range(groups)]

    def _conv_backward(self, ctx, grad):
        grad = _fused_act_grad(ctx, grad)
        cols, w3, groups = ctx["cols"], ctx["w3"], ctx["groups"]
        n, filters = grad.shape[0], w3.shape[1]
        dy = grad.reshape(n, filters, grad.size // (n * filters))
        dw3 = empty(w3.shape)
        dcols = empty(cols.shape)
        if groups == 1:
            gemm(dy, cols, c=dw3, trans_b=True)
            gemm(w3, dy, c=dcols, trans_a=True)
        else:
            for (ws, cs, ds), (dws, dcs, _) in zip(self._group_slices(w3, cols, dy, groups),
                                                   self._group_slices(dw3, dcols, dy, groups)):
                gemm(ds, cs, c=dws, trans_b=True)
                gemm(ws, ds, c=dcs, trans_a=True)
        dx = col2im(dcols, ctx["x4_shape"], *ctx["geo"])
        grads = {"weight": dw3.reshape(*ctx["w_shape"])}
        if ctx["has_bias"]:
            grads["bias"] = _bias_grad(dy, filters, dy.shape[2])
        return [dx.reshape(*ctx["x_shape"])], grads

    def forward_conv1d(self, ctx, inputs, params, attrs, train):
        return self._conv_forward(ctx, inputs, params, attrs, train, 1)

    def forward_conv2d(self, ctx, inputs, params, attrs, train):
        return self._conv_forward(ctx, inputs, params, attrs, train, 2)

    backward_conv1d = backward_conv2d = _conv_backward

    def _pool(self, ctx, x, pool, train):
        y, arg = pool.forward(_as4d(x))
        if train:
            ctx.update(pool=pool, x=x, y=y, arg=arg)
        return y.reshape(*x.shape[:2], *y.shape[3 if len(x.shape) == 3 else 2:])

    def _pool_backward(self, ctx, grad):
        x = ctx["x"]
        dx = ctx["pool"].backward(grad, _as4d(x), ctx["y"], ctx["arg"])
        return [dx.reshape(*x.shape)], {}

    def _window_pool(self, ctx, inputs, attrs, train, mode, rank):
        x = inputs[0]
        x4 = _as4d(x)
        kernel, stride, pads, dilation = window_geometry(attrs, rank)
        if mode != "max":
            dilation = (1, 1)
        if mode == "lp":
            pads = (0, 0)
        ceil = attrs.get("ceil_mode", False)
        out_hw = tuple(window_out_size(size, k, s, p, d, ceil)
                       for size, k, s, p, d in zip(x4.shape[2:], kernel, stride, pads, dilation))
        pool = Pool(mode, x4.shape, out_hw, kernel, stride, pads, dilation,
                    attrs.get("count_include_pad", True), attrs.get("norm", 2.0))
        return self._pool(ctx, x, pool, train)

    def forward_maxpool1d(self, ctx, inputs, params, attrs, train):
        return self._window_pool(ctx, inputs, attrs, train, "max", 1)

    def forward_maxpool2d(self, ctx, inputs, params, attrs, train):
        return self._window_pool(ctx, inputs, attrs, train, "max", 2)

    def forward_avgpool1d(self, ctx, inputs, params, attrs, train):
        return self._window_pool(ctx, inputs, attrs, train, "avg", 1)

    def forward_avgpool2d(self, ctx, inputs, params, attrs, train):
        return self._window_pool(ctx, inputs, attrs, train, "avg", 2)

    def forward_lppool2d(self, ctx, inputs, params, attrs, train):
        return self._window_pool(ctx, inputs, attrs, train, "lp", 2)

    def _global(self, ctx, inputs, train, mode):
        x = inputs[0]
        x4 = x.reshape(x.shape[0], x.shape[1], 1, x.size // (x.shape[0] * x.shape[1]))
        y = self._pool(ctx, x4, Pool(mode, x4.shape, (1, 1)), train)
        if train:
            ctx["x"] = x4
            ctx["x_shape"] = x.shape
        return y.reshape(x.shape[0], x.shape[1])

    def _global_backward(self, ctx, grad):
        [dx], _ = self._pool_backward(ctx, grad.reshape(*grad.shape, 1, 1))
        return [dx.reshape(*ctx["x_shape"])], {}

    def forward_global_avgpool(self, ctx, inputs, params, attrs, train):
        return self._global(ctx, inputs, train, "avg")

    def forward_global_maxpool(self, ctx, inputs, params, attrs, train):
        return self._global(ctx, inputs, train, "max")

    def forward_adaptive_avgpool2d(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        return self._pool(ctx, x, Pool("avg", x.shape, tuple(attrs["output"]), adaptive=True), train)

    backward_maxpool1d = backward_maxpool2d = backward_avgpool1d = backward_avgpool2d = _pool_backward
    backward_lppool2d = backward_adaptive_avgpool2d = _pool_backward
    backward_global_avgpool = backward_global_maxpool = _global_backward
