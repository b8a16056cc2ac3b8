"""`expr`: an elementwise formula over named inputs, with NumPy broadcasting (netspec/formula.py parses it)."""
from __future__ import annotations

from netspec.errors import did_you_mean
from netspec.formula import FormulaError, parse, variables

from ..dims import numel
from ..registry import REQUIRED, Attr, AttrError, LayerType, ShapeError, register
from .merge import broadcast_shape

MAX_INPUTS = 26
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LABEL_CHARS = 48


def _check_formula(text: str) -> None:
    try:
        parse(text)
    except FormulaError as exc:
        raise AttrError(str(exc), exc.hint) from None


def _link(node, graph) -> None:
    """Fill 'names': `from` as a mapping names the inputs, a list of inputs reads as a, b, c, ..."""
    node.attrs["names"] = tuple(node.attrs.get("names") or LETTERS[:len(node.inputs)])


def _infer(node, in_shapes):
    names = node.attrs["names"]
    if len(names) != len(in_shapes):
        raise ShapeError(f"'names' lists {len(names)} name(s) for {len(in_shapes)} input(s)",
                         "give 'from' as a mapping {name: layer}, or leave 'names' out")
    used = variables(parse(node.attrs["formula"]))
    for name in used:
        if name not in names:
            raise ShapeError(f"formula '{node.attrs['formula']}' reads '{name}', which is not one of its inputs "
                             f"({', '.join(names)})",
                             did_you_mean(name, names) or "name the inputs with 'from: {" + name + ": layer, ...}'")
    unused = [name for name in names if name not in used]
    if unused:
        raise ShapeError(f"input '{unused[0]}' is not used in formula '{node.attrs['formula']}'",
                         "use it, or leave it out of 'from'")
    return broadcast_shape(node, in_shapes)


def _count(tree) -> int:
    return 0 if tree[0] in ("num", "var") else 1 + sum(_count(c) for c in tree[1:] if isinstance(c, tuple))


def _flops(node, in_shapes, out_shape) -> int:
    return numel(out_shape) * max(1, _count(parse(node.attrs["formula"])))


def _label(node) -> str:
    text = " ".join(node.attrs["formula"].split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 3] + "..."


register(LayerType(
    "expr", "formula", min_inputs=1, max_inputs=MAX_INPUTS, infer=_infer, link=_link, flops=_flops, label=_label,
    aliases=("formula",),
    attrs=[Attr("formula", "str", REQUIRED, check=_check_formula,
                doc="elementwise formula over the inputs: + - * / **, numbers and sigmoid tanh relu exp log "
                    "sqrt abs minimum maximum clip where"),
           Attr("names", "names", None, doc="the inputs' names in the formula (set by 'from' as a mapping "
                                            "{name: layer}; a list of inputs reads as a, b, c, ...)")],
    doc="an elementwise formula of its inputs with NumPy broadcasting, e.g. "
        "{type: expr, from: {z: z, n: n, h: h}, formula: '(1 - z) * n + z * h'}",
    examples=(
        {"attrs": {"formula": "(1 - a) * b + a * tanh(b)"}, "inputs": [[2, 3], [2, 3]]},
        {"attrs": {"formula": "sigmoid(a) * exp(-b ** 2) + relu(a - b) / (1 + abs(b)) + log(1 + a * a) "
                              "- sqrt(b * b + 1) + maximum(a, 0.1)"},
         "inputs": [[3, 2, 2], [3, 1, 1]]},
        {"attrs": {"formula": "where(a > b, minimum(a, c), maximum(b, c)) + clip(c, -0.5, 0.5) * 2 + a ** 3 "
                              "- c / (2 + b * b) + where(c, -a, 1.5)"},
         "inputs": [[4], [2, 1], [1, 4]]},
        {"attrs": {"formula": "2 * a - 1"}, "inputs": [[5]]},
    )))
