"""`expr`: the formula written as one readable PyTorch expression (autograd gives the backward)."""
from __future__ import annotations

from netspec.formula import COMPARISONS, parse, precedence

from . import TORCH, Lowering
from .common import number, simple
from .merge import aligned

CALLS = {"sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "relu": "torch.relu", "exp": "torch.exp",
         "log": "torch.log", "sqrt": "torch.sqrt", "abs": "torch.abs", "minimum": "torch.minimum",
         "maximum": "torch.maximum"}


def source(tree: tuple, env: dict) -> str:
    """Python source of a formula tree over torch tensors; `env` maps input names to expressions."""
    op = tree[0]
    if op == "num":
        return number(tree[1])
    if op == "var":
        return env[tree[1]]
    if op == "neg":
        return "-" + _wrap(tree[1], env, 3)
    if op in ("+", "-", "*", "/", "**") or op in COMPARISONS:
        prec = precedence(tree)
        left, right = (prec + 1, prec) if op == "**" else (prec, prec + 1)
        return f"{_wrap(tree[1], env, left)} {op} {_wrap(tree[2], env, right)}"
    args = tree[1:]
    if op in ("minimum", "maximum") and any(a[0] == "num" for a in args):   # against a number: clamp
        x, bound = (args[1], args[0]) if args[0][0] == "num" else args
        keyword = "min" if op == "maximum" else "max"
        return f"torch.clamp({source(x, env)}, {keyword}={number(bound[1])})"
    if op == "clip":
        return f"torch.clamp({source(args[0], env)}, {number(args[1][1])}, {number(args[2][1])})"
    if op == "where":
        cond = source(args[0], env) if args[0][0] in COMPARISONS else f"{_wrap(args[0], env, 1)} != 0"
        return f"torch.where({cond}, {source(args[1], env)}, {source(args[2], env)})"
    return f"{CALLS[op]}({', '.join(source(a, env) for a in args)})"


def _wrap(tree: tuple, env: dict, at_least: int) -> str:
    text = source(tree, env)
    return text if precedence(tree) >= at_least else f"({text})"


@TORCH.layer("expr")
def expr(node):
    tree = parse(node.attrs["formula"])
    return Lowering(simple(lambda ref, args: source(tree, dict(zip(node.attrs["names"], aligned(node, args))))))
