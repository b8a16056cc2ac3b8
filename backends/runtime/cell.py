"""The `cell` lowering over any backend's Ops: the step graph run once per time step by the same Executor.

Forward keeps each step's executor contexts; backward runs the steps in reverse order (backpropagation
through time), feeding each step the gradient of its output and of the states it handed on, and summing
the parameter gradients over the steps. Arrays are time-major inside (x [T, N, F]); a bidirectional
cell runs a second executor over `reverse.`-prefixed parameters, its outputs joined on the last axis.
Uses only the Ops array primitives of the stacked recurrent layers (backends/runtime/recurrent.py).
The step executor runs with defer_weights: a backend may hand a step's weight gradient back as factors
(an object with `+` and `join()`), and the cell joins every step's at the end, one product per weight.
"""
from __future__ import annotations

from compiler.cell import STEP_INPUT
from compiler.layers.cell import REVERSE

from .executor import Executor


class Cell:
    """Registered as the `cell` lowering by every executing backend (`self` is unused: methods take ops)."""

    def forward(ops, ctx, inputs, params, attrs, train):
        step = attrs["step"]
        x = ops.rnn_swap01(inputs[0])                              # [T, N, F]
        steps = x.shape[0]
        states = list(attrs["states"])
        initial = dict(zip(attrs["initial"], inputs[1:]))
        out_name, targets = step.outputs[0], step.outputs[1:]
        runs = []
        for direction, prefix in enumerate(("", REVERSE) if attrs["bidirectional"] else ("",)):
            backwards = direction == 1 or attrs["reverse"]
            executor = _executor(ops, step, params, prefix)
            state = {name: initial[name] if name in initial else
                     ops.rnn_zeros((x.shape[1], *step[name].shape), x) for name in states}
            order = range(steps - 1, -1, -1) if backwards else range(steps)
            ys, contexts = [None] * steps, [None] * steps
            for t in order:
                outs = executor.forward({STEP_INPUT: x[t], **state}, train)
                ys[t] = outs[out_name]
                state = {name: outs[target] for name, target in zip(states, targets)}
                if train:
                    contexts[t] = executor.contexts
            runs.append((executor, prefix, list(order), ys, contexts))
        if train:
            ctx.update(runs=runs, steps=steps, batch=x.shape[1], like=x, attrs=attrs)
        parts = []
        for _, _, order, ys, _ in runs:
            if attrs["return_sequences"]:
                seq = ops.rnn_zeros((steps, *ys[0].shape), x)
                for t in range(steps):
                    ops.rnn_assign(seq[t], ys[t])
                parts.append(ops.rnn_swap01(seq))
            else:
                parts.append(ys[order[-1]])
        return parts[0] if len(parts) == 1 else ops.rnn_concat(parts, len(parts[0].shape) - 1)

    def backward(ops, ctx, grad):
        attrs, runs, steps = ctx["attrs"], ctx["runs"], ctx["steps"]
        step = attrs["step"]
        states = list(attrs["states"])
        out_name, targets = step.outputs[0], step.outputs[1:]
        width = step[out_name].shape[0]
        parts = ops.rnn_split(grad, [width] * len(runs), len(grad.shape) - 1) if len(runs) > 1 else [grad]
        dx = ops.rnn_zeros((steps, ctx["batch"], step[STEP_INPUT].shape[0]), ctx["like"])
        param_grads, initial_grads = {}, {}
        for (executor, prefix, order, _, contexts), part in zip(runs, parts):
            dys = ops.rnn_swap01(part) if attrs["return_sequences"] else None
            dstate: dict = {}
            for t in reversed(order):
                grads: dict = {}
                dy = dys[t] if dys is not None else (part if t == order[-1] else None)
                for name, value in ((out_name, dy), *((target, dstate.get(s)) for s, target in zip(states, targets))):
                    if value is not None:
                        grads[name] = value if name not in grads else ops.add(grads[name], value)
                executor.contexts = contexts[t]
                for key, value in executor.backward(grads).items():
                    key = prefix + key
                    if key not in param_grads:
                        param_grads[key] = value
                    elif hasattr(value, "join"):          # factors: gathered now, joined after the last step
                        param_grads[key] = param_grads[key] + value
                    else:
                        param_grads[key] = ops.add(param_grads[key], value)
                got = executor.input_gradients
                if STEP_INPUT in got:
                    ops.rnn_assign(dx[t], ops.add(dx[t], got[STEP_INPUT]))
                dstate = {s: got[s] for s in states if s in got}
            for name, value in dstate.items():
                initial_grads[name] = value if name not in initial_grads else ops.add(initial_grads[name], value)
        param_grads = {key: value.join() if hasattr(value, "join") else value for key, value in param_grads.items()}
        wanted = ctx["input_grads"]
        input_grads = [ops.rnn_swap01(dx) if wanted[0] else None]
        input_grads += [initial_grads.get(name) if want else None for name, want in zip(attrs["initial"], wanted[1:])]
        return input_grads, param_grads


def _executor(ops, step, params, prefix):
    """The Executor of the step graph over the cell's parameters of one direction (local keys: 'z.weight').

    Built once per (Ops, step graph, direction) and kept on the Ops: building one walks the graph, and its
    thread plan is the enclosing model's (plan=False). Each call hands it the current parameter arrays."""
    state = {key[len(prefix):]: value for key, value in params.items() if key.startswith(prefix)}
    cache = ops.__dict__.setdefault("_cell_executors", {})
    found = cache.get((id(step), prefix))
    if found is None or found[0] is not step:          # the graph itself is kept, so its id is not reused
        executor = Executor(step, ops, state, grad_inputs=True, plan=False, defer_weights=True)
        found = cache[(id(step), prefix)] = (step, executor)
    executor = found[1]
    executor.state = state
    return executor
