"""`cell`: a class for the step (the step graph's own module, emitted like a model) and a readable loop over time.

    self.rnn = GruCellStep()                      # its layers: self.rnn.z, self.rnn.n, ...
    ...
    rnn_h = x.new_zeros(x.shape[0], 64)
    rnn_steps = []
    for rnn_t in range(x.shape[1]):
        rnn_y, rnn_h = self.rnn(x[:, rnn_t], rnn_h)
        rnn_steps.append(rnn_y)
    rnn = torch.stack(rnn_steps, 1)

A bidirectional cell's second direction is the submodule `reverse` of the first (`rnn.reverse.z.weight`).

For ONNX export (backends/torch/export.py) a cell whose sequence length is symbolic is emitted through the
`scan_steps` helper instead (torch's `scan` higher-order op, which torch.onnx turns into an ONNX `Scan`), so the
exported graph loops over any length; with `scan_loops()` off (model.py, training) it is always the loop above,
and a fixed length unrolls on export.
"""
from __future__ import annotations

import contextlib

from compiler.dims import Sym

from . import HELPERS, TORCH, Lowering

_SCAN = [False]


@contextlib.contextmanager
def scan_loops():
    """Within this block, cells over a symbolic length lower to `scan_steps` (for export) instead of a loop."""
    _SCAN[0] = True
    try:
        yield
    finally:
        _SCAN[0] = False


HELPERS["scan_steps"] = '''
def scan_steps(step, x, states, reverse):
    """step over x's time axis (batch, T, ...) as torch's scan op (an ONNX Scan on export): (outputs
    (batch, T, ...) in time order, final states)."""
    from torch._higher_order_ops.scan import scan

    def body(carry, x_t):
        y, *new = step(x_t, *carry)
        return [s.clone() for s in new], y.clone()  # scan's body may not return aliases

    final, ys = scan(body, list(states), x.movedim(1, 0), reverse=reverse)
    return ys.movedim(0, 1), final
'''


def _step_class(node) -> str:
    """The step's class name, its source registered as a helper of the generated file."""
    from ..emit_model import ModelEmitter, camel
    step = node.attrs["step"]
    base = camel(node.attrs["block"]) + "Step"
    name, count = base, 1
    while True:
        source = ModelEmitter(step, class_name=name).emit()
        if HELPERS.get(name, source) == source:
            HELPERS[name] = source
            return name
        count += 1
        name = f"{base}{count}"


@TORCH.layer("cell")
def cell(node):
    name = _step_class(node)
    attrs, step = node.attrs, node.attrs["step"]
    states = list(attrs["states"])

    scanned = _SCAN[0] and isinstance(node.in_shapes[0][0], Sym)

    def forward(target, ref, args):
        x, initial = args[0], dict(zip(attrs["initial"], args[1:]))
        lines, parts = [], []
        runs = [("", attrs["reverse"])] if not attrs["bidirectional"] else [("", False), (".reverse", True)]
        for suffix, backwards in runs:
            tag = target + ("_reverse" if suffix else "")
            state = [f"{tag}_{s}" for s in states]
            for var, s in zip(state, states):
                shape = ", ".join(str(d) for d in step[s].shape)
                lines.append(f"{var} = {initial[s]}" if s in initial else f"{var} = {x}.new_zeros({x}.shape[0], {shape})")
            if scanned:
                lines.append(f"{tag}_ys, ({', '.join(state)},) = scan_steps({ref}{suffix}, {x}, [{', '.join(state)}], "
                             f"{backwards})")
                last = "0" if backwards else "-1"
                lines.append(f"{tag}_y = {tag}_ys" if attrs["return_sequences"] else f"{tag}_y = {tag}_ys[:, {last}]")
                parts.append(f"{tag}_y")
                continue
            steps = f"range({x}.shape[1] - 1, -1, -1)" if backwards else f"range({x}.shape[1])"
            call = f"{ref}{suffix}({x}[:, {tag}_t], {', '.join(state)})"
            if attrs["return_sequences"]:
                lines += [f"{tag}_steps = []", f"for {tag}_t in {steps}:",
                          f"    {tag}_y, {', '.join(state)} = {call}", f"    {tag}_steps.append({tag}_y)"]
                order = f"{tag}_steps[::-1]" if backwards else f"{tag}_steps"
                lines.append(f"{tag}_y = torch.stack({order}, 1)")
            else:
                lines += [f"for {tag}_t in {steps}:", f"    {tag}_y, {', '.join(state)} = {call}"]
            parts.append(f"{tag}_y")
        lines.append(f"{target} = {parts[0]}" if len(parts) == 1 else f"{target} = torch.cat([{', '.join(parts)}], -1)")
        return lines

    init = ["{m}.reverse = " + name + "()"] if attrs["bidirectional"] else []
    helpers = (name, "scan_steps") if scanned else (name,)
    return Lowering(forward, module=f"{name}()", init=init, helpers=helpers)
