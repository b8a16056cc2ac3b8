"""`expr`: the formula and its gradients run by one fused kernel each way (kernels/formula.py)."""
from __future__ import annotations

from netspec.errors import UserError
from netspec.formula import derivative, parse

from ..kernels import broadcast as bc
from ..kernels import formula as kernel
from . import CUDA


def _run(trees, names, inputs, shape):
    try:
        return kernel.run(trees, names, inputs, shape)
    except kernel.FormulaTooDeep as exc:
        raise UserError(f"expr: {exc}; split the formula over several expr layers") from None


@CUDA.layer("expr")
class Expr:
    def forward(ops, ctx, inputs, params, attrs, train):
        shape = bc.broadcast_shapes(*(x.shape for x in inputs))
        tree = parse(attrs["formula"])
        if train:
            ctx.update(inputs=inputs, tree=tree, names=attrs["names"], shape=shape)
        return _run((tree,), attrs["names"], inputs, shape)[0]

    def backward(ops, ctx, grad):
        names, wanted = ctx["names"], ctx["input_grads"]
        chosen = [k for k, want in enumerate(wanted) if want]
        if not chosen:
            return [None] * len(names), {}
        grad_name = "\0grad"                     # no formula name can clash with it
        trees = tuple(("*", ("var", grad_name), derivative(ctx["tree"], names[k])) for k in chosen)
        local = _run(trees, (*names, grad_name), [*ctx["inputs"], grad], ctx["shape"])
        out = [None] * len(names)
        for slot, k in enumerate(chosen):
            out[k] = bc.reduce_to(local[slot], ctx["inputs"][k].shape)
        return out, {}
