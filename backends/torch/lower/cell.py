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
"""
from __future__ import annotations

from . import HELPERS, TORCH, Lowering


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
    return Lowering(forward, module=f"{name}()", init=init, helpers=(name,))
