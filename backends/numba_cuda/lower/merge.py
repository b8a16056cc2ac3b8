"""Arithmetic with broadcasting over per-sample dims (add, sub, mul, div, maximum, minimum) and concat.

Inputs of different shapes are read through broadcast strides (kernels/broadcast.py); each input's
gradient is summed back to its own shape.
"""
from __future__ import annotations

from ..kernels import broadcast as bc
from ..kernels import elementwise as ew
from . import CUDA


class Arithmetic:
    """The inputs folded with one broadcasting binary op; the backward's local gradients reduced per input."""

    op = ""

    @classmethod
    def forward(cls, ops, ctx, inputs, params, attrs, train):
        shape = bc.broadcast_shapes(*(x.shape for x in inputs))
        out = bc.binary(inputs[0], inputs[1], cls.op, shape)
        for x in inputs[2:]:
            bc.binary(out, x, cls.op, shape, out=out)
        if train:
            ctx.update(inputs=inputs, out=out)
        return out

    @classmethod
    def backward(cls, ops, ctx, grad):
        wanted = ctx["input_grads"]
        grads = cls.local_grads(ctx, grad, wanted)
        return [bc.reduce_to(g, x.shape) if want else None for g, x, want in zip(grads, ctx["inputs"], wanted)], {}


@CUDA.layer("add")
class Add(Arithmetic):
    op = "add"

    def local_grads(ctx, grad, wanted):
        return [grad] * len(wanted)


@CUDA.layer("sub")
class Sub(Arithmetic):
    op = "sub"

    def local_grads(ctx, grad, wanted):
        return [grad, ew.scale(grad, -1.0) if wanted[1] else None]


@CUDA.layer("mul")
class Mul(Arithmetic):
    op = "mul"

    def local_grads(ctx, grad, wanted):
        """Each input's gradient: grad times every other input."""
        inputs, shape = ctx["inputs"], ctx["out"].shape
        grads = []
        for i, want in enumerate(wanted):
            g = None
            for j, x in enumerate(inputs):
                if want and j != i:
                    g = bc.binary(grad if g is None else g, x, "mul", shape, out=g)
            grads.append(g)
        return grads


@CUDA.layer("div")
class Div(Arithmetic):
    op = "div"

    def local_grads(ctx, grad, wanted):
        """d(a/b) = da / b - db * (a/b) / b."""
        out = ctx["out"]
        quotient = bc.binary(grad, ctx["inputs"][1], "div", out.shape)
        if not wanted[1]:
            return [quotient, None]
        other = bc.binary(quotient, out, "mul", out.shape)
        return [quotient, ew.scale(other, -1.0, out=other)]


class Extreme(Arithmetic):
    """maximum/minimum: the gradient goes to the input holding the extreme; inputs tied for it share it
    equally (torch.maximum's rule for two inputs, made symmetric for more)."""

    def local_grads(ctx, grad, wanted):
        out = ctx["out"]
        holds = [bc.binary(x, out, "equal", out.shape) for x in ctx["inputs"]]
        count = ew.copy(holds[0])
        for h in holds[1:]:
            ew.add(count, h, out=count)
        share = bc.binary(grad, count, "div", out.shape, out=count)
        return [bc.binary(share, h, "mul", out.shape, out=h) if want else None for h, want in zip(holds, wanted)]


@CUDA.layer("maximum")
class Maximum(Extreme):
    op = "maximum"


@CUDA.layer("minimum")
class Minimum(Extreme):
    op = "minimum"


@CUDA.layer("concat")
class Concat:
    def forward(ops, ctx, inputs, params, attrs, train):
        axis = attrs["axis"]
        axis = axis + 1 if axis >= 0 else len(inputs[0].shape) + axis     # a per-sample axis -> the array's
        sizes = [x.shape[axis] for x in inputs]
        shape = list(inputs[0].shape)
        shape[axis] = sum(sizes)
        ctx.update(axis=axis, sizes=sizes)
        return ew.concat(inputs, tuple(shape), axis)

    def backward(ops, ctx, grad):
        return ew.split(grad, ctx["sizes"], ctx["axis"]), {}
