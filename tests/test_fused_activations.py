"""Every parameter-free activation as a linear layer's `activation:`, with attributes off their defaults where it
has any: NumPy matches the generated PyTorch model in float64 and Numba-CUDA matches NumPy in float32, output
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

# attributes off the defaults (softplus: a threshold that the inputs cross)
ATTRS = {"leaky_relu": {"slope": 0.2}, "softmax": {"axis": 0}, "log_softmax": {"axis": 0},
         "hardtanh": {"min": -0.5, "max": 2.0}, "elu": {"alpha": 0.5}, "gelu": {"approximate": "tanh"},
         "softplus": {"beta": 2.0, "threshold": 1.0}}
FUSABLE = sorted(name for name, t in all_types().items() if t.fusable and name != "identity")


def _example(name):
    return {"attrs": {"units": 6, "activation": {"type": name, **ATTRS.get(name, {})}}, "inputs": [[4]], "scale": 3.0}


def _ops(backend):
    def make(dtype, rng):
        from importlib import import_module
        return import_module(f"backends.{backend}").make_ops(dtype, rng)
    return make


def test_every_activation_with_attrs_is_covered():
    assert set(ATTRS) <= set(FUSABLE)
    with_attrs = {name for name in FUSABLE if all_types()[name].attrs}
    assert with_attrs <= set(ATTRS), f"give these activations non-default attrs here: {with_attrs - set(ATTRS)}"


@pytest.mark.parametrize("name", FUSABLE)
def test_fused_numpy_matches_torch(tmp_path, name):
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    example = _example(name)
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
    @pytest.mark.parametrize("name", FUSABLE)
    def test_fused_cuda_matches_numpy(tmp_path, name):
        example = _example(name)
        graph = load_case(tmp_path, "linear", example)
        state = float_state(graph, "float32")
        inputs = {k: v.astype(np.float32) for k, v in batch_inputs(graph, scale=example["scale"]).items()}
        out, _, grads, input_grads = run_runtime(graph, _ops("numpy"), state, inputs, "float32")
        c_out, _, c_grads, c_input_grads = run_runtime(graph, _ops("numba_cuda"), state, inputs, "float32")
        assert_close({"output": out}, {"output": c_out}, 1e-4, "output")
        assert_close(grads, c_grads, 1e-4, "parameter gradient")
        assert_close(input_grads, c_input_grads, 1e-4, "input gradient")
