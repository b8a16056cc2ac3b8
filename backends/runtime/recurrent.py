"""Stacked and bidirectional rnn/lstm/gru layers, shared by every backend's ops.

A backend supplies one direction's step loop and a handful of array primitives; this mixin does the
rest: layer stacking with dropout between layers, the two directions, PyTorch's parameter names,
`return_sequences` (false: the forward direction's last step joined to the backward direction's
first step), and the backward pass through all of it. Arrays are time-major inside: x [T, N, F].

What a backend class provides (plain functions are fine as staticmethods):
    rnn_direction_forward(op, x, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity) -> (hs [T, N, H], cache)
    rnn_direction_backward(cache, dhs [T, N, H], need_dx) -> (dx [T, N, F], (dw_ih, dw_hh, db_ih, db_hh))
                                       (dx None when not need_dx: the first layer's input needs no gradient)
    rnn_swap01(x)                      axes 0 and 1 swapped, contiguous
    rnn_dropout(x, p) -> (x, mask)     inverted dropout and its mask
    rnn_concat(parts, axis)            join along an axis
    rnn_split(x, sizes, axis)          the inverse of rnn_concat
    rnn_zeros(shape, like)             zeros of like's dtype
    rnn_assign(view, value)            view[...] = value, in place
    rnn_copy(x), rnn_add(a, b), rnn_mul(a, b)
"""
from __future__ import annotations


class StackedRecurrent:
    """The lowering of rnn, lstm and gru over a backend's primitives (the Ops methods above): a backend
    registers a subclass of it in its table (`@NUMPY.layer("rnn", "lstm", "gru")`). `self` is the Ops."""

    def forward(self, ctx, inputs, params, attrs, train):
        op = ctx["op"]
        x = self.rnn_swap01(inputs[0])                                  # [T, N, F]
        directions = ("", "_reverse") if attrs["bidirectional"] else ("",)
        dropout = attrs["dropout"] if train else 0.0
        nonlinearity = attrs.get("nonlinearity", "tanh")      # rnn only: lstm and gru have none
        caches, masks = [], []
        for layer in range(attrs["layers"]):
            if layer and dropout:
                x, mask = self.rnn_dropout(x, dropout)
                masks.append(mask)
            outs, layer_caches = [], []
            for suffix in directions:
                key = f"l{layer}{suffix}"
                hs, cache = self.rnn_direction_forward(
                    op, x, params[f"weight_ih_{key}"], params[f"weight_hh_{key}"], params.get(f"bias_ih_{key}"),
                    params.get(f"bias_hh_{key}"), bool(suffix), nonlinearity)
                outs.append(hs)
                layer_caches.append(cache)
            caches.append(layer_caches)
            x = outs[0] if len(outs) == 1 else self.rnn_concat(outs, 2)
        steps, hidden = x.shape[0], attrs["hidden"]
        if train:
            ctx.update(caches=caches, masks=masks, directions=directions, attrs=attrs, steps=steps)
        if attrs["return_sequences"]:
            return self.rnn_swap01(x)
        if len(directions) == 1:
            return self.rnn_copy(x[steps - 1])
        forward_last = self.rnn_split(x[steps - 1], [hidden, hidden], 1)[0]
        backward_first = self.rnn_split(x[0], [hidden, hidden], 1)[1]
        return self.rnn_concat([forward_last, backward_first], 1)

    def backward(self, ctx, grad):
        attrs, directions, caches = ctx["attrs"], ctx["directions"], ctx["caches"]
        hidden, steps = attrs["hidden"], ctx["steps"]
        if attrs["return_sequences"]:
            dout = self.rnn_swap01(grad)
        else:
            dout = self.rnn_zeros((steps, grad.shape[0], hidden * len(directions)), grad)
            if len(directions) == 1:
                self.rnn_assign(dout[steps - 1], grad)
            else:
                forward_part, backward_part = self.rnn_split(grad, [hidden, hidden], 1)
                self.rnn_assign(dout[steps - 1], self.rnn_concat(
                    [forward_part, self.rnn_zeros(forward_part.shape, grad)], 1))
                self.rnn_assign(dout[0], self.rnn_concat([self.rnn_zeros(backward_part.shape, grad), backward_part], 1))
        grads = {}
        input_needs_grad = ctx["input_grads"][0]
        for layer in range(len(caches) - 1, -1, -1):
            parts = self.rnn_split(dout, [hidden] * len(directions), 2) if len(directions) > 1 else [dout]
            dx = None
            for index, suffix in enumerate(directions):
                d_in, (dw_ih, dw_hh, db_ih, db_hh) = self.rnn_direction_backward(
                    caches[layer][index], parts[index], need_dx=bool(layer) or input_needs_grad)
                key = f"l{layer}{suffix}"
                grads[f"weight_ih_{key}"], grads[f"weight_hh_{key}"] = dw_ih, dw_hh
                if db_ih is not None:
                    grads[f"bias_ih_{key}"], grads[f"bias_hh_{key}"] = db_ih, db_hh
                dx = d_in if dx is None else self.rnn_add(dx, d_in)
            if layer and ctx["masks"]:
                dx = self.rnn_mul(dx, ctx["masks"][layer - 1])
            dout = dx
        return [None if dout is None else self.rnn_swap01(dout)], grads
