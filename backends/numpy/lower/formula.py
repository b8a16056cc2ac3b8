"""`expr`: a formula tree evaluated with NumPy ufuncs; the backward evaluates its symbolic derivatives.

Inputs are aligned to one rank (unit axes after the batch axis) and broadcast by NumPy; each input's
gradient is grad * d(formula)/d(input), summed back to the input's shape.
"""
from __future__ import annotations

import functools

import numpy as np

from netspec.formula import derivative, parse

from .. import fastexp
from . import NUMPY
from .merge import expand, unbroadcast

UFUNCS = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
    "<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal,
    "tanh": fastexp.tanh, "exp": fastexp.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
    "minimum": np.minimum, "maximum": np.maximum,
}


def evaluate(tree: tuple, env: dict, dtype, memo: dict | None = None):
    """The value of a formula tree; `env` maps names to arrays; equal subtrees are computed once."""
    memo = {} if memo is None else memo
    found = memo.get(tree)
    if found is not None:
        return found
    op = tree[0]
    if op == "num":
        value = dtype.type(tree[1])
    elif op == "var":
        value = env[tree[1]]
    else:
        args = [evaluate(child, env, dtype, memo) for child in tree[1:]]
        if op == "neg":
            value = -args[0]
        elif op == "sigmoid":
            a = np.asarray(args[0], dtype=dtype)
            value = fastexp.sigmoid(a) if a.dtype == np.float32 else 0.5 * (1.0 + np.tanh(0.5 * a))
        elif op == "relu":
            value = np.maximum(args[0], 0)
        elif op == "clip":
            value = np.clip(*args)
        elif op == "where":
            value = np.where(args[0] != 0, args[1], args[2])
        else:
            value = UFUNCS[op](*args)
        value = np.asarray(value, dtype=dtype) if np.asarray(value).dtype != dtype else value
    memo[tree] = value
    return value


@NUMPY.layer("expr")
class Expr:
    def forward(ops, ctx, inputs, params, attrs, train):
        rank = max(x.ndim for x in inputs)
        names = attrs["names"]
        env = {name: expand(x, rank) for name, x in zip(names, inputs)}
        tree = parse(attrs["formula"])
        memo: dict = {}
        with np.errstate(over="ignore"):
            out = evaluate(tree, env, ops.dtype, memo)
        shape = np.broadcast_shapes(*(x.shape for x in env.values()))
        if train:
            ctx.update(env=env, tree=tree, names=names, memo=memo, shapes=[x.shape for x in inputs])
        return np.ascontiguousarray(np.broadcast_to(out, shape))

    def backward(ops, ctx, grad):
        out = []
        memo = ctx["memo"]
        with np.errstate(over="ignore"):
            for name, shape, wanted in zip(ctx["names"], ctx["shapes"], ctx["input_grads"]):
                if not wanted:
                    out.append(None)
                    continue
                local = evaluate(_derivative(ctx["tree"], name), ctx["env"], ops.dtype, memo)
                value = grad * local
                out.append(value if value.shape == shape else unbroadcast(np.broadcast_to(value, grad.shape), shape))
        return out, {}


@functools.lru_cache(maxsize=1024)
def _derivative(tree: tuple, name: str) -> tuple:
    """d tree / d name, derived once per formula and input (a cell's step runs its backward T times)."""
    return derivative(tree, name)

