"""The conformance cases (tests/layer_cases.py, from every layer type's schema examples) on the Numba-CUDA
backend: outputs and every gradient agree with the NumPy backend in float32.

Runs under the CUDA simulator (re-launched in its own process, see tests/cuda_sim.py) or on a GPU.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_sim import active, relaunch

if not active():
    test_under_cuda_simulator = relaunch(__file__, timeout=1500)
else:
    import pytest
    from layer_cases import assert_close, batch_inputs, cases, float_state, load_case, run_runtime

    def _numpy_ops(dtype, rng):
        from backends.numpy import make_ops
        return make_ops(dtype, rng)

    def _cuda_ops(dtype, rng):
        from backends.numba_cuda import make_ops
        return make_ops(dtype, rng)

    @pytest.mark.parametrize(("type_name", "example"), cases())
    def test_cuda_matches_numpy(tmp_path, type_name, example):
        graph = load_case(tmp_path, type_name, example)
        state = float_state(graph, "float32")
        inputs = {k: (v.astype("float32") if v.dtype.kind == "f" else v)
                  for k, v in batch_inputs(graph, scale=example.get("scale", 1.0)).items()}
        out, _, grads, input_grads = run_runtime(graph, _numpy_ops, state, inputs, "float32")
        c_out, _, c_grads, c_input_grads = run_runtime(graph, _cuda_ops, state, inputs, "float32")
        assert_close({"output": out}, {"output": c_out}, 1e-4, "output")
        assert_close(grads, c_grads, 1e-4, "parameter gradient")
        assert_close(input_grads, c_input_grads, 1e-4, "input gradient")
