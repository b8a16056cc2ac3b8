"""Cells (blocks with state:) and expr formulas: the built-in lstm/gru equal their cell versions in specs/cells/
(outputs and every gradient, both directions, stacked), faults are located, and a custom cell trains."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import yaml
from layer_cases import batch_inputs, float_state, run_runtime, run_torch

from netspec.api import load_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELLS = os.path.join(ROOT, "specs", "cells")
T, F, H = 5, 3, 4


def _numpy_ops(dtype, rng):
    from backends.numpy import make_ops
    return make_ops(dtype, rng)


def _write(tmp_path, name, spec) -> str:
    path = os.path.join(str(tmp_path), name + ".yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(spec, handle, sort_keys=False)
    return path


def _cell_block(kind: str) -> dict:
    with open(os.path.join(CELLS, f"{kind}.yaml")) as handle:
        return yaml.safe_load(handle)["blocks"]


def _pair(tmp_path, kind, layers, bidirectional, return_sequences):
    """The graphs of a built-in layer and of the same network written with cells."""
    builtin = {"name": "builtin", "input": {"shape": [T, F]}, "layers": [
        {"type": kind, "name": "rnn", "hidden": H, "layers": layers, "bidirectional": bidirectional,
         "return_sequences": return_sequences}]}
    cells = {"name": "cells", "input": {"shape": [T, F]}, "blocks": _cell_block(kind), "layers": [
        {"type": f"{kind}_cell", "name": f"c{k}", "hidden": H, "bidirectional": bidirectional,
         "return_sequences": return_sequences or k < layers - 1} for k in range(layers)]}
    return load_graph(_write(tmp_path, "builtin", builtin)), load_graph(_write(tmp_path, "cells", cells))


GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z")}


def _blocks(layers, bidirectional):
    """(cell layer key prefix, built-in key suffix, input width) for every layer and direction."""
    for k in range(layers):
        width = F if k == 0 else H * (2 if bidirectional else 1)
        for prefix, suffix in ((("", ""), ("reverse.", "_reverse")) if bidirectional else (("", ""),)):
            yield f"c{k}.{prefix}", f"l{k}{suffix}", width


def to_cells(state, kind, layers, bidirectional) -> dict:
    """The built-in layer's parameters as the cell network's: gate j's weight is [W_ih rows j, W_hh rows j],
    its bias b_ih + b_hh rows j; the GRU candidate keeps its halves apart (xn from W_ih, hn from W_hh)."""
    out = {}
    for cell, key, _ in _blocks(layers, bidirectional):
        w_ih, w_hh = state[f"rnn.weight_ih_{key}"], state[f"rnn.weight_hh_{key}"]
        b_ih, b_hh = state[f"rnn.bias_ih_{key}"], state[f"rnn.bias_hh_{key}"]
        for j, gate in enumerate(GATES[kind]):
            rows = slice(j * H, (j + 1) * H)
            out[f"{cell}{gate}.weight"] = np.concatenate([w_ih[rows], w_hh[rows]], axis=1)
            out[f"{cell}{gate}.bias"] = b_ih[rows] + b_hh[rows]
        if kind == "gru":
            rows = slice(2 * H, 3 * H)
            out[f"{cell}xn.weight"], out[f"{cell}xn.bias"] = w_ih[rows], b_ih[rows]
            out[f"{cell}hn.weight"], out[f"{cell}hn.bias"] = w_hh[rows], b_hh[rows]
    return out


def from_cells(grads, kind, layers, bidirectional) -> dict:
    """The cell network's gradients as the built-in layer's (the inverse map of to_cells)."""
    out = {}
    for cell, key, width in _blocks(layers, bidirectional):
        w_ih, w_hh, b = [], [], []
        for gate in GATES[kind]:
            w = grads[f"{cell}{gate}.weight"]
            w_ih.append(w[:, :width])
            w_hh.append(w[:, width:])
            b.append(grads[f"{cell}{gate}.bias"])
        b_ih, b_hh = list(b), list(b)
        if kind == "gru":
            w_ih.append(grads[f"{cell}xn.weight"])
            w_hh.append(grads[f"{cell}hn.weight"])
            b_ih.append(grads[f"{cell}xn.bias"])
            b_hh.append(grads[f"{cell}hn.bias"])
        out[f"rnn.weight_ih_{key}"], out[f"rnn.weight_hh_{key}"] = np.concatenate(w_ih), np.concatenate(w_hh)
        out[f"rnn.bias_ih_{key}"], out[f"rnn.bias_hh_{key}"] = np.concatenate(b_ih), np.concatenate(b_hh)
    return out


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(("layers", "bidirectional", "return_sequences"),
                         [(1, False, True), (1, True, False), (2, True, True), (2, False, False)])
def test_builtin_equals_cell(tmp_path, kind, layers, bidirectional, return_sequences):
    builtin, cells = _pair(tmp_path, kind, layers, bidirectional, return_sequences)
    state = float_state(builtin, "float64", seed=3)
    mapped = to_cells(state, kind, layers, bidirectional)
    assert set(mapped) == set(cells.state_layout()), "the built-in parameters give every cell parameter"
    inputs = batch_inputs(builtin, seed=4)
    out, _, grads, input_grads = run_runtime(builtin, _numpy_ops, state, inputs, "float64")
    for run in (run_runtime, run_torch):
        args = (cells, _numpy_ops, mapped, inputs, "float64") if run is run_runtime else (cells, mapped, inputs)
        c_out, _, c_grads, c_input_grads = run(*args)
        assert c_out.shape == out.shape
        for what, ref, got in (("output", out, c_out), ("input gradient", input_grads["input"],
                                                         c_input_grads["input"])):
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-12, err_msg=f"{run.__name__}: {what}")
        c_grads = from_cells(c_grads, kind, layers, bidirectional)
        assert set(c_grads) == set(grads)
        for key, grad in grads.items():
            np.testing.assert_allclose(c_grads[key], grad, rtol=1e-6, atol=1e-12,
                                       err_msg=f"{run.__name__}: gradient of {key}")


GRU_BLOCK = """
blocks:
  my_gru:
    params: {hidden: 6}
    state: {h: ["${hidden}"]}
    layers:
      - {type: concat, name: xh, from: [input, h]}
      - {type: linear, name: z, units: "${hidden}", activation: sigmoid}
      - {type: linear, name: n, units: UNITS, activation: tanh, from: xh}
      - {type: expr, name: h_new, from: {z: z, n: n, h: h}, formula: "FORMULA"}
    update: {h: h_new}
"""


def _faults(tmp_path, layers: str, units="${hidden}", formula="(1 - z) * n + z * h") -> list:
    from netspec.errors import SpecError
    text = ("name: faulty\ninput: {shape: [5, 3]}\n" + GRU_BLOCK.replace("UNITS", f'"{units}"')
            .replace("FORMULA", formula) + "layers:\n" + layers)
    path = os.path.join(str(tmp_path), "faulty.yaml")
    with open(path, "w") as handle:
        handle.write(text)
    with pytest.raises(SpecError) as caught:
        load_graph(path)
    return [str(d) for d in caught.value.diagnostics]


def test_a_wrong_update_names_the_cell_the_state_and_the_layer(tmp_path):
    faults = _faults(tmp_path, "  - {type: my_gru, hidden: 6}\n", units="${hidden - 1}")
    assert len(faults) == 1
    assert "cell 'my_gru'" in faults[0] and "layer 'h_new' (expr)" in faults[0], faults
    assert faults[0].startswith(os.path.join(str(tmp_path), "faulty.yaml") + ":"), faults


def test_a_formula_fault_is_located_at_the_formula(tmp_path):
    faults = _faults(tmp_path, "  - {type: my_gru}\n", formula="(1 - z) * n +* h")
    assert len(faults) == 1 and ":12:" in faults[0] and "character 14" in faults[0], faults
    faults = _faults(tmp_path, "  - {type: my_gru}\n", formula="(1 - z) * n + z * q")
    assert "reads 'q'" in faults[0] and "cell 'my_gru'" in faults[0], faults
    faults = _faults(tmp_path, "  - {type: my_gru}\n", formula="__import__(z)")
    assert "unknown function '__import__'" in faults[0], faults


def test_from_as_a_mapping_is_for_expr_only(tmp_path):
    faults = _faults(tmp_path, "  - {type: my_gru}\n  - {type: linear, units: 2, from: {a: gru_1}}\n")
    assert "'from' as a mapping" in faults[0] and "layer 'linear_2'" in faults[0], faults


def test_cell_use_attrs_and_initial_state(tmp_path):
    graph_text = ("  - {type: linear, name: seed, units: 6, from: input}\n"
                  "  - {type: flatten, name: flat, from: input}\n"
                  "  - {type: linear, name: h0, units: 6, from: flat}\n"
                  "  - {type: my_gru, name: rnn, from: input, initial_state: {h: h0}, reverse: true, "
                  "return_sequences: true}\n")
    path = os.path.join(str(tmp_path), "ok.yaml")
    with open(path, "w") as handle:
        handle.write("name: ok\ninput: {shape: [5, 3]}\n" + GRU_BLOCK.replace("UNITS", '"${hidden}"')
                     .replace("FORMULA", "(1 - z) * n + z * h") + "layers:\n" + graph_text)
    graph = load_graph(path)
    node = graph["rnn"]
    assert node.shape == (5, 6) and node.inputs == ["input", "h0"]
    assert "rnn.z.weight" in graph.state_layout()
    faults = _faults(tmp_path, "  - {type: my_gru, initial_state: {c: input}}\n")
    assert "'initial_state'" in faults[0], faults


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_custom_cell_learns_digits(tmp_path, backend):
    """The minimal gated unit (specs/cells/mgu.yaml) reads digits row by row and reaches 95% test accuracy."""
    import subprocess
    import sys
    out = os.path.join(str(tmp_path), "run")
    done = subprocess.run([sys.executable, "-m", "netspec", "train", os.path.join(CELLS, "mgu.yaml"), "--backend",
                           backend, "-o", out, "--json", "-q"], check=False,
                          capture_output=True, text=True, timeout=1200, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["test_accuracy"] >= 0.95, result
