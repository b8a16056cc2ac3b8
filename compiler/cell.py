"""A cell use's step: the sub-graph of one time step, built from the cell body the spec language expanded.

The step graph's inputs are `x_t` (the sequence's element at t) and one per state; its outputs are the
step's output and each state's next value. Node names are local to the cell ('z', not 'rnn1/z'), so a
step parameter's checkpoint key is `<cell layer>.<step node>.<param>`.
"""
from __future__ import annotations

from netspec.errors import Collector
from netspec.spec import InputDecl, LayerDecl, Spec

from .ir import BlockScope

STEP_INPUT = "x_t"


def build_step(decl, errors: Collector, build):
    """The step Graph of a cell LayerDecl (its body's faults reported to `errors`), and its broken nodes."""
    body = decl.body
    prefix = body.prefix
    local = {f"{prefix}input": STEP_INPUT, **{f"{prefix}{s}": s for s in body.state}}

    def rename(name):
        if name is None:
            return None
        if name in local:
            return local[name]
        return name[len(prefix):] if name.startswith(prefix) else None

    layers, faulty = [], set()
    for inner in body.layers:
        inputs = [rename(n) for n in inner.inputs]
        for original, renamed in zip(inner.inputs, inputs):
            if original is not None and renamed is None and not original.startswith("!"):
                errors.add(inner.pos, f"reads '{original}', which lies outside cell '{body.block}'",
                           inner.name, inner.type, "a cell's layers read 'input', its states and each other; "
                           "seed a state from outside with 'initial_state'")
                faulty.add(inner.name)
        scope = tuple(BlockScope(s.path[len(prefix):], s.block, s.pos) for s in inner.scope
                      if s.path.startswith(prefix))
        layers.append(LayerDecl(inner.name[len(prefix):], inner.type, inner.attrs, inner.attr_pos, inputs,
                                inner.pos, scope, inner.faults, inner.body))
    inputs = [InputDecl(STEP_INPUT, (1,), "float32", decl.pos),
              *(InputDecl(name, shape, "float32", body.state_pos[name]) for name, shape in body.state.items())]
    outputs = [rename(body.output), *(rename(body.update[s]) for s in body.state)]
    spec = Spec(decl.pos.file if decl.pos else "", body.block, "", {}, inputs, layers, outputs, {},
                broken={f"{n}" for n in faulty})
    graph, broken = build(spec, errors)
    return graph, broken | faulty


def local_params(step) -> list:
    """(name relative to the cell, shape, init) of every parameter of a step graph."""
    return [(f"{node.module_path}.{t.name}", t.shape, t.init) for node in step.layers() for t in node.params]


def local_buffers(step) -> list:
    return [(f"{node.module_path}.{t.name}", t.shape, t.init) for node in step.layers() for t in node.buffers]
