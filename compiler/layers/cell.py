"""`cell`: a block with `state:` used as a layer, run over a `T x F` sequence (compiler/cell.py builds its step).

The step graph is shape-checked once per use with the sequence's feature shape; every state's update must
have the state's shape. Parameters are the step's, named `<step layer>.<param>` under the cell layer
(and again under `reverse.` for the second direction of a bidirectional cell).
"""
from __future__ import annotations

from netspec.errors import Collector, fmt_shape

from ..dims import Sym
from ..registry import REQUIRED, Attr, LayerType, ShapeError, register

REVERSE = "reverse."


def _infer(node, in_shapes):
    from ..cell import STEP_INPUT
    from ..infer import infer
    step, block = node.attrs.get("step"), node.attrs["block"]
    if step is None:
        raise ShapeError("a cell is written as a block with 'state:' and used by the block's name",
                         "declare it under 'blocks:' with state:, update: and layers:")
    x = in_shapes[0]
    if len(x) != 2:
        raise ShapeError(f"cell '{block}' reads a T x F sequence, found input {fmt_shape(x)}",
                         "flatten each step's features first, e.g. a reshape to [T, F]")
    step[STEP_INPUT].attrs["shape"] = (x[1],)
    errors = Collector()
    infer(step, errors)
    if errors.diagnostics:
        first = errors.diagnostics[0]
        where = f"layer '{first.layer}' ({first.layer_type}) " if first.layer else ""
        line = f" (line {first.pos.line})" if first.pos and first.pos.line else ""
        raise ShapeError(f"in cell '{block}', {where}{line}: {first.message}".replace(" :", ":"), first.hint)
    for name, target in zip(node.attrs["states"], step.outputs[1:]):
        state = step[name].shape
        if step[target].shape != state:
            raise ShapeError(f"in cell '{block}', state '{name}' is {fmt_shape(state)} but its update '{target}' is "
                             f"{fmt_shape(step[target].shape)}", f"make '{target}' produce {fmt_shape(state)}")
    for name, shape in zip(node.attrs["initial"], in_shapes[1:]):
        if tuple(shape) != step[name].shape:
            raise ShapeError(f"initial_state of '{name}' is {fmt_shape(shape)} but the state is "
                             f"{fmt_shape(step[name].shape)}", "project it with a linear layer to the state's size")
    out = step[step.outputs[0]].shape
    if len(out) != 1:
        raise ShapeError(f"cell '{block}' must output a vector per step, its output '{step.outputs[0]}' is "
                         f"{fmt_shape(out)}", "flatten it inside the cell")
    width = out[0] * (2 if node.attrs["bidirectional"] else 1)
    return (x[0], width) if node.attrs["return_sequences"] else (width,)


def _directions(node) -> tuple:
    return ("", REVERSE) if node.attrs["bidirectional"] else ("",)


def _params(node, in_shapes):
    from ..cell import local_params
    return [(prefix + name, shape, init) for prefix in _directions(node)
            for name, shape, init in local_params(node.attrs["step"])]


def _buffers(node, in_shapes):
    from ..cell import local_buffers
    return [(prefix + name, shape, init) for prefix in _directions(node)
            for name, shape, init in local_buffers(node.attrs["step"])]


def _flops(node, in_shapes, out_shape) -> int:
    steps = in_shapes[0][0]
    steps = steps if not isinstance(steps, Sym) else 1
    return steps * len(_directions(node)) * node.attrs["step"].total_flops


def _label(node) -> str:
    states = ", ".join(f"{name} {fmt_shape(node.attrs['step'][name].shape)}" for name in node.attrs["states"])
    mode = " bidirectional" if node.attrs["bidirectional"] else " reverse" if node.attrs["reverse"] else ""
    return f"{node.attrs['block']} cell{mode} ({states})"


_GRU_BODY = [
    {"type": "concat", "name": "xh", "from": ["input", "h"]},
    {"type": "linear", "name": "z", "units": 3, "activation": "sigmoid"},
    {"type": "linear", "name": "n", "units": 3, "activation": "tanh", "from": "xh"},
    {"type": "expr", "name": "h_new", "from": {"z": "z", "n": "n", "h": "h"}, "formula": "(1 - z) * n + z * h"},
]
_CELL = {"tiny_gru": {"params": {"hidden": 3}, "state": {"h": ["${hidden}"]}, "layers": _GRU_BODY,
                      "update": {"h": "h_new"}}}

register(LayerType(
    "cell", "cell", infer=_infer, params=_params, buffers=_buffers, flops=_flops, label=_label, min_inputs=1,
    max_inputs=65,
    attrs=[Attr("block", "str", REQUIRED, doc="the cell block's name (set by the spec language)"),
           Attr("states", "names", (), doc="the state names (set by the spec language)"),
           Attr("initial", "names", (), doc="states seeded from extra inputs (initial_state, set by the spec language)"),
           Attr("return_sequences", "bool", False, doc="return every step's output (T x H), else the last"),
           Attr("bidirectional", "bool", False, doc="run both directions, outputs joined (2H)"),
           Attr("reverse", "bool", False, doc="run from the last step to the first")],
    doc="a block with state: used as a layer: its layers run once per time step of a T x F sequence",
    examples=(
        {"blocks": _CELL, "use": "tiny_gru", "attrs": {"return_sequences": True}, "inputs": [[4, 2]]},
        {"blocks": _CELL, "use": "tiny_gru", "attrs": {"bidirectional": True}, "inputs": [[3, 2]]},
        {"blocks": _CELL, "use": "tiny_gru", "attrs": {"reverse": True, "initial_state": {"h": "in1"}},
         "inputs": [[3, 2], [3]]},
    )))
