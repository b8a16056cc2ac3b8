"""One conformance test over every registered layer type and every backend, from the types' schema examples.

For each example: inference's shape is the shape every backend computes; NumPy and the generated PyTorch
model agree in float64 on the output and on every gradient (parameters and inputs); NumPy's gradients pass
a finite-difference check; the diagram has a label and renders; the Numba-CUDA backend (under the
simulator, see test_conformance_cuda.py) agrees too. A new layer type brings its own cases.
"""
from __future__ import annotations

import numpy as np
import pytest
from layer_cases import (
    BATCH,
    assert_close,
    batch_inputs,
    cases,
    float_state,
    load_case,
    output_weights,
    run_runtime,
    run_torch,
)

from compiler.registry import all_types

CASES = cases()


def test_every_layer_type_has_examples():
    bare = sorted(name for name, t in all_types().items() if name != "input" and not t.examples)
    assert not bare, f"layer types without schema examples (the conformance tests need them): {bare}"


def _numpy_ops(dtype, rng):
    from backends.numpy import make_ops
    return make_ops(dtype, rng)


@pytest.mark.parametrize(("type_name", "example"), CASES)
def test_shape_label_and_numpy_matches_torch(tmp_path, type_name, example):
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    graph = load_case(tmp_path, type_name, example)
    node = graph[graph.outputs[0]]
    from compiler.diagram import describe
    label = describe(node)
    assert isinstance(label, str) and label.strip(), f"{type_name}: empty diagram label"
    state = float_state(graph, "float64")
    inputs = batch_inputs(graph, scale=example.get("scale", 1.0))
    out, _, grads, input_grads = run_runtime(graph, _numpy_ops, state, inputs, "float64")
    assert out.shape == (BATCH, *node.shape), f"numpy output {out.shape}, inference says {node.shape}"
    t_out, _, t_grads, t_input_grads = run_torch(graph, state, inputs)
    assert t_out.shape == out.shape
    assert_close({"output": t_out}, {"output": out}, 1e-9, "output")
    assert_close(t_grads, grads, 1e-8, "parameter gradient")
    assert_close(t_input_grads, input_grads, 1e-8, "input gradient")
    trainable = {f"{n.module_path}.{t.name}" for n in graph.layers() for t in n.params}
    assert set(grads) == trainable, f"gradients for {sorted(grads)}, parameters {sorted(trainable)}"


@pytest.mark.parametrize(("type_name", "example"), CASES)
def test_numpy_gradients_pass_finite_differences(tmp_path, type_name, example):
    if "finite_differences" in example:      # a gradient defined otherwise on purpose, with the reason given
        pytest.skip(example["finite_differences"])
    graph = load_case(tmp_path, type_name, example)
    state = float_state(graph, "float64")
    inputs = batch_inputs(graph, scale=example.get("scale", 1.0))
    _, _, grads, input_grads = run_runtime(graph, _numpy_ops, state, inputs, "float64")
    weights = output_weights(graph)

    def loss(state_, inputs_):
        out = run_forward(graph, state_, inputs_)
        return float(np.sum(out * weights))

    rng = np.random.default_rng(3)
    eps = 1e-6
    for kind, arrays, analytic in (("input", inputs, input_grads), ("parameter", state, grads)):
        for key, grad in analytic.items():
            flat = arrays[key].reshape(-1)
            for index in rng.choice(flat.size, size=min(flat.size, 8), replace=False):
                saved = flat[index]
                flat[index] = saved + eps
                up = loss(state, inputs)
                flat[index] = saved - eps
                down = loss(state, inputs)
                flat[index] = saved
                numeric = (up - down) / (2 * eps)
                assert abs(numeric - grad.reshape(-1)[index]) <= 1e-5 * max(1.0, abs(numeric)), (
                    f"{kind} {key}[{index}]: analytic {grad.reshape(-1)[index]:.8g}, numeric {numeric:.8g}")


def run_forward(graph, state, inputs):
    from backends.runtime.executor import Executor
    ops = _numpy_ops("float64", np.random.default_rng(0))
    executor = Executor(graph, ops, {k: ops.from_numpy(v) for k, v in state.items()})
    return executor.forward({k: ops.from_numpy(v) for k, v in inputs.items()}, train=True)[graph.outputs[0]]


@pytest.mark.parametrize(("type_name", "example"), CASES)
def test_diagram_renders_the_label(tmp_path, type_name, example):
    from compiler.diagram import build_view, describe, render, to_dot
    graph = load_case(tmp_path, type_name, example)
    svg = render(to_dot(build_view(graph)), "svg").decode()
    assert describe(graph[graph.outputs[0]]).split()[0] in svg
