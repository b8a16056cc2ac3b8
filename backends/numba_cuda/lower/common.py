"""Helpers the family modules share: bias add with a fused activation, bias gradients, 1-D as 2-D."""
from __future__ import annotations

from ..kernels import elementwise as ew
from ..kernels.reduce import channel_sums

FUSED = ("relu", "leaky_relu")      # activations the linear and conv kernels apply with the bias add


def slope(activation: str, attrs: dict) -> float:
    """The activation kernels' slope argument: leaky_relu's attr (every other activation ignores it)."""
    return attrs["slope"] if activation == "leaky_relu" else 0.0


def bias_activation(ctx, y, params, inner: int):
    """Bias (broadcast along axis 1, `inner` elements per channel) and the fused ctx['activation'] in place
    on y; returns the activation's name, or None."""
    act = ctx.get("activation")
    act_slope = slope(act, ctx["activation_attrs"]) if act else 0.0
    if "bias" in params:
        ew.bias_activation(y, params["bias"], inner, act or "identity", act_slope)
    elif act:
        ew.activation(y, act, act_slope, out=y)
    if act:
        ctx["act_slope"] = act_slope
    return act


def activation_grad(ctx, grad):
    """The fused activation's backward from its output ctx['act_out'] (relu and leaky_relu read its sign)."""
    out = ctx.get("act_out")
    return grad if out is None else ew.activation_backward(out, out, grad, ctx["activation"], ctx["act_slope"])


def bias_grad(grad, channels: int, inner: int):
    """Sum of grad over everything but axis 1 of grad viewed as (outer, channels, inner)."""
    return channel_sums(grad, channels, inner)[0]


def as4d(x):
    """A [N, C, L] array as [N, C, 1, L] (1-D layers run as 2-D with height 1); 4-D arrays unchanged."""
    return x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]) if len(x.shape) == 3 else x
