"""Every parameter-free activation as a linear layer's `activation:`, with the attrs of each of its schema
examples: NumPy matches the generated PyTorch model in float64 and Numba-CUDA matches NumPy in float32, output
and gradients. (The schema examples fuse only a few activations; this reaches each one.)"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_sim import active, relaunch
from layer_cases import assert_close, batch_inputs, float_state, load_case, run_runtime, run_torch

from compiler.registry import all_types


def _fused_cases():
    """Each parameter-free activation with each distinct attrs of its schema examples (pytest params)."""
    out = []
    for name, layer_type in sorted(all_types().items()):
        if layer_type.fusable and name != "identity":
            variants = []
            for example in layer_type.examples:
                if example.get("attrs", {}) not in variants:
                    variants.append(example.get("attrs", {}))
            out += [pytest.param(name, attrs, id=f"{name}-{i}") for i, attrs in enumerate(variants)]
    return out


CASES = _fused_cases()


def _example(name, attrs):
    return {"attrs": {"units": 6, "activation": {"type": name, **attrs}}, "inputs": [[4]], "scale": 3.0}


def _ops(backend):
    def make(dtype, rng):
        from importlib import import_module
        return import_module(f"backends.{backend}").make_ops(dtype, rng)
    return make


@pytest.mark.parametrize(("name", "attrs"), CASES)
def test_fused_numpy_matches_torch(tmp_path, name, attrs):
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    example = _example(name, attrs)
    graph = load_case(tmp_path, "linear", example)
    assert graph["under_test"].activation == name
    state = float_state(graph, "float64")
    inputs = batch_inputs(graph, scale=example["scale"])
    out, _, grads, input_grads = run_runtime(graph, _ops("numpy"), state, inputs, "float64")
    t_out, _, t_grads, t_input_grads = run_torch(graph, state, inputs)
    assert_close({"output": t_out}, {"output": out}, 1e-9, "output")
    assert_close(t_grads, grads, 1e-8, "parameter gradient")
    assert_close(t_input_grads, input_grads, 1e-8, "input gradient")


if not active():
    test_fused_cuda_under_simulator = relaunch(__file__)
else:
    @pytest.mark.parametrize(("name", "attrs"), CASES)
    def test_fused_cuda_matches_numpy(tmp_path, name, attrs):
        example = _example(name, attrs)
        graph = load_case(tmp_path, "linear", example)
        state = float_state(graph, "float32")
        inputs = {k: v.astype(np.float32) for k, v in batch_inputs(graph, scale=example["scale"]).items()}
        out, _, grads, input_grads = run_runtime(graph, _ops("numpy"), state, inputs, "float32")
        c_out, _, c_grads, c_input_grads = run_runtime(graph, _ops("numba_cuda"), state, inputs, "float32")
        assert_close({"output": out}, {"output": c_out}, 1e-4, "output")
        assert_close(grads, c_grads, 1e-4, "parameter gradient")
        assert_close(input_grads, c_input_grads, 1e-4, "input gradient")
