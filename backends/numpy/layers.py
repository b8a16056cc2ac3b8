"""Dense, activation, shape, merge, normalisation, dropout, embedding and RBM kernels of the NumPy backend."""
from __future__ import annotations

import numpy as np

from . import kernels


def _sigmoid(x):
    out = np.empty_like(x)
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


def _channel_axes(x):
    return (0, *range(2, x.ndim))


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class LayerOps:
    """Mixin of NumpyOps: every layer type but convolutions, pools and recurrent layers."""

    # -- dense -------------------------------------------------------------------------------
    # In a batch-parallel graph (NumpyOps.plan) BLAS runs on one thread, so a linear layer with this much
    # work (batch x inputs x outputs multiply-adds) splits it over the threads itself: rows of the batch for
    # the output and the input gradient, rows of the weight for its gradient.
    LINEAR_SPLIT_WORK = 1 << 23

    def _over_linear(self, fn, rows, work):
        if work >= self.LINEAR_SPLIT_WORK:
            self._over_batch(fn, rows, work)
        else:
            fn(0, rows)

    def forward_linear(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        weight = params["weight"]
        x2 = x.reshape(-1, x.shape[-1])
        y = np.empty((x2.shape[0], weight.shape[0]), dtype=x.dtype)
        has_bias, relu = "bias" in params, ctx.get("activation") == "relu"

        def forward_slice(lo, hi):
            part = y[lo:hi]
            np.matmul(x2[lo:hi], weight.T, out=part)
            if has_bias:
                part += params["bias"]
            if relu:                               # fused relu: in place, kept for the backward mask
                np.maximum(part, 0, out=part)

        self._over_linear(forward_slice, len(y), y.size * x2.shape[1])
        if train:
            ctx.update(x2=x2, x_shape=x.shape, weight=weight, has_bias=has_bias, relu_out=y if relu else None)
        return y.reshape(*x.shape[:-1], weight.shape[0])

    def backward_linear(self, ctx, grad):
        g2 = grad.reshape(-1, grad.shape[-1])
        if ctx.get("relu_out") is not None:        # fused relu: one Numba pass (np.where is ~30x slower here)
            g2 = np.ascontiguousarray(g2)
            masked = np.empty_like(g2)
            kernels.act_grad_bias(g2[:, None, :], ctx["relu_out"][:, None, :], True, False, masked[:, None, :],
                                  masked[:1, :1])
            g2 = masked
        x2, weight = ctx["x2"], ctx["weight"]
        rows, outputs = g2.shape
        want_dx = ctx.get("input_grads", (True,))[0]
        grads = {"weight": np.empty(weight.shape, dtype=g2.dtype)}
        dx = np.empty(x2.shape, dtype=g2.dtype) if want_dx else None

        def backward_slice(lo, hi):
            f0, f1 = outputs * lo // rows, outputs * hi // rows
            np.matmul(g2[:, f0:f1].T, x2, out=grads["weight"][f0:f1])
            if want_dx:
                np.matmul(g2[lo:hi], weight, out=dx[lo:hi])

        self._over_linear(backward_slice, rows, g2.size * x2.shape[1])
        if ctx["has_bias"]:
            grads["bias"] = g2.sum(axis=0)
        if not want_dx:
            return [None], grads
        return [dx.reshape(ctx["x_shape"])], grads

    def forward_rbm(self, ctx, inputs, params, attrs, train):
        """An unrolled RBM: the hidden units' mean given the visible ones."""
        pre = self.forward_linear(ctx, inputs, {"weight": params["weight"], "bias": params["bias"]}, attrs, train)
        units = attrs.get("hidden_units", "bernoulli")
        ctx["units"] = units
        ctx["visible_bias"] = params["visible_bias"]
        if units == "bernoulli":
            out = _sigmoid(pre)
        elif units == "relu":
            out = np.maximum(pre, 0)
        else:
            out = pre
        ctx["out"] = out
        return out

    def backward_rbm(self, ctx, grad):
        units, out = ctx["units"], ctx["out"]
        if units == "bernoulli":
            grad = grad * out * (1 - out)
        elif units == "relu":
            grad = grad * (out > 0)
        grad_inputs, grads = self.backward_linear(ctx, grad)
        grads["visible_bias"] = np.zeros_like(ctx["visible_bias"])
        return grad_inputs, grads

    def forward_tied(self, ctx, inputs, params, attrs, train):
        """A tied decoder: x W + visible bias, with W (hidden, visible) borrowed from an rbm layer."""
        x, weight = inputs[0], params["weight"]
        if train:
            ctx.update(x=x, weight=weight)
        return x @ weight + params["bias"]

    def backward_tied(self, ctx, grad):
        return [grad @ ctx["weight"].T], {"weight": ctx["x"].T @ grad, "bias": grad.sum(axis=0)}

    # -- activations -------------------------------------------------------------------------
    def forward_relu(self, ctx, inputs, params, attrs, train):
        out = np.maximum(inputs[0], 0)
        ctx["out"] = out
        return out

    def backward_relu(self, ctx, grad):
        return [grad * (ctx["out"] > 0)], {}

    def forward_leaky_relu(self, ctx, inputs, params, attrs, train):
        x, slope = inputs[0], attrs.get("slope", 0.01)
        ctx.update(positive=x > 0, slope=slope)
        return np.where(x > 0, x, x * slope)

    def backward_leaky_relu(self, ctx, grad):
        return [np.where(ctx["positive"], grad, grad * ctx["slope"])], {}

    def forward_sigmoid(self, ctx, inputs, params, attrs, train):
        ctx["out"] = out = _sigmoid(inputs[0])
        return out

    def backward_sigmoid(self, ctx, grad):
        out = ctx["out"]
        return [grad * out * (1 - out)], {}

    def forward_tanh(self, ctx, inputs, params, attrs, train):
        ctx["out"] = out = np.tanh(inputs[0])
        return out

    def backward_tanh(self, ctx, grad):
        out = ctx["out"]
        return [grad * (1 - out * out)], {}

    def forward_softmax(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        axis = attrs.get("axis", -1)
        axis = axis + 1 if axis >= 0 else axis
        shifted = np.exp(x - x.max(axis=axis, keepdims=True))
        out = shifted / shifted.sum(axis=axis, keepdims=True)
        ctx.update(out=out, axis=axis)
        return out

    def backward_softmax(self, ctx, grad):
        out, axis = ctx["out"], ctx["axis"]
        return [out * (grad - (grad * out).sum(axis=axis, keepdims=True))], {}

    def forward_step(self, ctx, inputs, params, attrs, train):
        return (inputs[0] > 0).astype(inputs[0].dtype)

    def forward_sign(self, ctx, inputs, params, attrs, train):
        return np.sign(inputs[0])

    def backward_step(self, ctx, grad):
        return [np.zeros_like(grad)], {}

    backward_sign = backward_step

    def forward_identity(self, ctx, inputs, params, attrs, train):
        return inputs[0]

    def backward_identity(self, ctx, grad):
        return [grad], {}

    # -- shape -------------------------------------------------------------------------------
    def forward_flatten(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], -1)

    def forward_reshape(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        ctx["x_shape"] = x.shape
        return x.reshape(x.shape[0], *attrs["shape"])

    def backward_flatten(self, ctx, grad):
        return [grad.reshape(ctx["x_shape"])], {}

    backward_reshape = backward_flatten

    # -- merges ------------------------------------------------------------------------------
    def forward_add(self, ctx, inputs, params, attrs, train):
        ctx["count"] = len(inputs)
        out = inputs[0] + inputs[1]
        for x in inputs[2:]:
            out += x
        return out

    def backward_add(self, ctx, grad):
        return [grad] * ctx["count"], {}

    def forward_mul(self, ctx, inputs, params, attrs, train):
        ctx["inputs"] = inputs
        out = inputs[0] * inputs[1]
        for x in inputs[2:]:
            out *= x
        return out

    def backward_mul(self, ctx, grad):
        inputs = ctx["inputs"]
        out = []
        for i in range(len(inputs)):
            g = grad
            for j, x in enumerate(inputs):
                if j != i:
                    g = g * x
            out.append(g)
        return out, {}

    def forward_concat(self, ctx, inputs, params, attrs, train):
        axis = attrs.get("axis", 0)
        axis = axis + 1 if axis >= 0 else axis
        ctx.update(axis=axis, sizes=[x.shape[axis] for x in inputs])
        return np.concatenate(inputs, axis=axis)

    def backward_concat(self, ctx, grad):
        cuts = np.cumsum(ctx["sizes"])[:-1]
        return [np.ascontiguousarray(g) for g in np.split(grad, cuts, axis=ctx["axis"])], {}

    # -- regularisation and normalisation ----------------------------------------------------
    def dropout_mask(self, shape, p: float):
        """Inverted-dropout mask from the runtime's generator (float32 uniforms, as every backend draws)."""
        keep = self.rng.random(shape, dtype=np.float32) >= p
        return keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - p))

    def forward_dropout(self, ctx, inputs, params, attrs, train):
        x, p = inputs[0], attrs.get("p", 0.5)
        if not train or p == 0:
            ctx["mask"] = None
            return x
        ctx["mask"] = mask = self.dropout_mask(x.shape, p)
        return x * mask

    def backward_dropout(self, ctx, grad):
        mask = ctx["mask"]
        return [grad if mask is None else grad * mask], {}

    def forward_batchnorm(self, ctx, inputs, params, attrs, train):
        x = inputs[0]
        eps, momentum = attrs.get("eps", 1e-5), attrs.get("momentum", 0.1)
        axes = _channel_axes(x)
        if train:
            mean = x.mean(axis=axes)
            centred = x - _per_channel(mean, x.ndim)
            var = (centred * centred).mean(axis=axes)
            count = x.size // x.shape[1]
            running_mean, running_var = params["running_mean"], params["running_var"]
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (count / max(count - 1, 1))
            params["num_batches_tracked"] += 1
        else:
            mean, var = params["running_mean"], params["running_var"]
            centred = x - _per_channel(mean, x.ndim)
        inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        xhat = centred * _per_channel(inv_std, x.ndim)
        out = xhat
        if "weight" in params:
            out = xhat * _per_channel(params["weight"], x.ndim) + _per_channel(params["bias"], x.ndim)
        if train:
            ctx.update(xhat=xhat, inv_std=inv_std, weight=params.get("weight"), axes=axes)
        return out

    def backward_batchnorm(self, ctx, grad):
        xhat, inv_std, weight, axes = ctx["xhat"], ctx["inv_std"], ctx["weight"], ctx["axes"]
        ndim = grad.ndim
        grads = {}
        if weight is not None:
            grads = {"weight": (grad * xhat).sum(axis=axes), "bias": grad.sum(axis=axes)}
            dxhat = grad * _per_channel(weight, ndim)
        else:
            dxhat = grad
        count = grad.size // grad.shape[1]
        mean_d = dxhat.sum(axis=axes) / count
        mean_dx = (dxhat * xhat).sum(axis=axes) / count
        dx = (dxhat - _per_channel(mean_d, ndim) - xhat * _per_channel(mean_dx, ndim)) * _per_channel(inv_std, ndim)
        return [dx], grads

    @staticmethod
    def _channel_window_sum(a, before: int, after: int):
        """s[:, c] = sum of a[:, c - before .. c + after] (clipped to the channel range)."""
        channels = a.shape[1]
        cs = np.zeros((a.shape[0], channels + 1, *a.shape[2:]), dtype=a.dtype)
        np.cumsum(a, axis=1, out=cs[:, 1:])
        idx = np.arange(channels)
        return cs[:, np.minimum(idx + after, channels - 1) + 1] - cs[:, np.maximum(idx - before, 0)]

    def forward_lrn(self, ctx, inputs, params, attrs, train):
        """PyTorch's LocalResponseNorm: x / (k + alpha/size * sum of x^2 over the channel window)^beta."""
        x = inputs[0]
        size, alpha, beta, k = attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"]
        base = k + (alpha / size) * self._channel_window_sum(x * x, size // 2, (size - 1) // 2)
        scale = base ** -beta
        if train:
            ctx.update(x=x, base=base, scale=scale, attrs=(size, alpha, beta))
        return x * scale

    def backward_lrn(self, ctx, grad):
        x, base, scale = ctx["x"], ctx["base"], ctx["scale"]
        size, alpha, beta = ctx["attrs"]
        t = grad * x * scale / base
        spread = self._channel_window_sum(t, (size - 1) // 2, size // 2)
        return [grad * scale - (2 * alpha * beta / size) * x * spread], {}

    # -- embedding ---------------------------------------------------------------------------
    def forward_embedding(self, ctx, inputs, params, attrs, train):
        ids, weight = inputs[0], params["weight"]
        if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
            from netspec.errors import UserError
            raise UserError(f"token id {int(ids.max() if ids.max() >= weight.shape[0] else ids.min())} is outside "
                            f"the embedding's vocabulary of {weight.shape[0]}", "raise 'vocab' to the data's")
        if train:
            ctx.update(ids=ids, shape=weight.shape, padding_idx=attrs.get("padding_idx"))
        return weight[ids]

    def backward_embedding(self, ctx, grad):
        ids, (vocab, dim) = ctx["ids"], ctx["shape"]
        dweight = np.zeros((vocab, dim), dtype=grad.dtype)
        np.add.at(dweight, ids.reshape(-1), grad.reshape(-1, dim))
        if ctx["padding_idx"] is not None:
            dweight[ctx["padding_idx"]] = 0
        return [None], {"weight": dweight}
