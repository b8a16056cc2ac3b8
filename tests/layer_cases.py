"""Cases for the conformance tests, derived from every registered layer type's schema `examples`.

An example is {attrs, inputs: [per-sample shape, ...], dtypes?, before?: [layer entries]}: it becomes a
one-layer spec (after any `before` layers) whose output is the layer under test. Adding a layer type with
examples adds its cases here; no test file changes.
"""
from __future__ import annotations

import os

import numpy as np
import yaml

from compiler.registry import all_types

BATCH = 3


def cases() -> list:
    """(id, type name, example) for every example of every registered type but `input`."""
    out = []
    for name, layer_type in sorted(all_types().items()):
        if name == "input":
            continue
        for index, example in enumerate(layer_type.examples):
            out.append(pytest_param(f"{name}-{index}", name, example))
    return out


def pytest_param(case_id, name, example):
    import pytest
    return pytest.param(name, example, id=case_id)


def example_spec(type_name: str, example: dict) -> dict:
    """The spec mapping of one example: its inputs, its `before` layers and the layer under test."""
    shapes, dtypes = example["inputs"], example.get("dtypes") or ["float32"] * len(example["inputs"])
    names = [f"in{i}" for i in range(len(shapes))]
    inputs = {name: {"shape": list(shape), **({"dtype": dtype} if dtype != "float32" else {})}
              for name, shape, dtype in zip(names, shapes, dtypes)}
    before = [dict(layer) for layer in example.get("before", [])]
    layer = {"type": example.get("use", type_name), "name": "under_test", **example.get("attrs", {})}
    if not before:
        layer["from"] = names if len(names) > 1 and "use" not in example else names[0]
    spec = {"name": f"case_{type_name}", "inputs": inputs, "layers": [*before, layer],
            "output": example.get("output", "under_test")}
    if "blocks" in example:          # a type used through a block (a cell: `use` names the block)
        spec["blocks"] = example["blocks"]
    return spec


def load_case(tmp_path, type_name: str, example: dict):
    """The shape-checked graph of an example (written to tmp_path as YAML, read through the real loader)."""
    from netspec.api import load_graph
    path = os.path.join(str(tmp_path), f"case_{type_name}.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(example_spec(type_name, example), handle, sort_keys=False)
    return load_graph(path)


def batch_inputs(graph, seed: int = 0, scale: float = 1.0) -> dict:
    """float64 normal inputs times `scale` (an example's `scale`, so that values cross a layer's kinks), ints
    within the consuming embedding's vocabulary, for every graph input."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        node = graph[name]
        shape = (BATCH, *node.shape)
        if node.dtype.startswith("int"):
            vocab = min(graph[c].attrs.get("vocab", 2) for c in graph.consumers()[name])
            out[name] = rng.integers(0, vocab, size=shape).astype(np.int64)
        else:
            out[name] = rng.normal(0.0, scale, size=shape)
    return out


def output_weights(graph, seed: int = 1) -> np.ndarray:
    """R: the conformance loss is sum(output * R), so d loss / d output = R."""
    node = graph[graph.outputs[0]]
    return np.random.default_rng(seed).normal(0.0, 1.0, size=(BATCH, *node.shape))


def run_runtime(graph, make_ops, state: dict, inputs: dict, dtype: str):
    """(output, loss, {param key: grad}, {input name: grad}) from a runtime backend in training mode."""
    from backends.runtime.executor import Executor
    ops = make_ops(dtype, np.random.default_rng(0))
    params = {key: ops.from_numpy(value) for key, value in state.items()}
    executor = Executor(graph, ops, params, grad_inputs=True)
    outs = executor.forward({k: ops.from_numpy(v) for k, v in inputs.items()}, train=True)
    name = graph.outputs[0]
    out = np.array(ops.to_numpy(outs[name]), dtype=np.float64)
    weights = output_weights(graph)
    grads = executor.backward({name: ops.from_numpy(weights)})
    return (out, float(np.sum(out * weights)), {k: np.array(ops.to_numpy(v), dtype=np.float64) for k, v in grads.items()},
            {k: np.array(ops.to_numpy(v), dtype=np.float64) for k, v in executor.input_gradients.items()})


def run_torch(graph, state: dict, inputs: dict):
    """The same from the generated PyTorch model in float64, training mode."""
    import torch

    from backends.torch import build_model
    model = build_model(graph).double()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    model.train()
    args = []
    for name in graph.inputs:
        tensor = torch.from_numpy(inputs[name])
        args.append(tensor.requires_grad_(True) if tensor.is_floating_point() else tensor)
    out = model(*args)
    out = out[0] if isinstance(out, (tuple, list)) else out
    weights = torch.from_numpy(output_weights(graph))
    loss = (out * weights).sum()
    if loss.requires_grad:          # a step function's output carries no gradient at all
        loss.backward()
    grads = {k: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy().copy()
             for k, p in model.named_parameters()}
    input_grads = {name: arg.grad.numpy().copy() for name, arg in zip(graph.inputs, args)
                   if arg.is_floating_point() and arg.grad is not None}
    return out.detach().numpy(), float(loss.detach()), grads, input_grads


def float_state(graph, dtype: str, seed: int = 0) -> dict:
    from backends.runtime.init import init_state
    state = init_state(graph, seed)
    return {k: (v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v) for k, v in state.items()}


def assert_close(reference: dict, other: dict, rtol: float, what: str) -> None:
    """Every array of `reference` is in `other`, same shape, within rtol of the reference's magnitude."""
    assert set(reference) <= set(other), f"{what}: missing {sorted(set(reference) - set(other))}"
    for key, ref in reference.items():
        got = np.asarray(other[key], dtype=np.float64)
        assert got.shape == ref.shape, f"{what} {key}: shape {got.shape} vs {ref.shape}"
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        worst = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        assert worst <= rtol * scale, f"{what} {key}: differs by {worst:.3g} (scale {scale:.3g})"
