"""Initial parameters as NumPy arrays, keyed by checkpoint key, sampled from each tensor's schema `Init`."""
from __future__ import annotations

import numpy as np


def sample(init, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """One array drawn as a compiler.registry.Init says (float64, or int64 for counters)."""
    if init is None:
        raise ValueError("the layer type declares no initialiser for this tensor")
    if init.kind == "uniform":
        value = rng.uniform(-init.scale, init.scale, size=shape)
    elif init.kind == "normal":
        value = rng.normal(0.0, init.scale, size=shape)
    else:
        value = np.full(shape, init.scale)
    if init.zero_row is not None:
        value[init.zero_row] = 0.0
    return value.astype(np.int64) if init.dtype == "int64" else value


def init_node(node, rng: np.random.Generator) -> dict:
    """Local name -> array for every parameter and buffer of one node, in declaration order."""
    out = {}
    given = node.attrs.get("weights") or {}          # `weights:` in the spec (checked against the shapes)
    for tensor in (*node.params, *node.buffers):
        try:
            out[tensor.name] = sample(tensor.init, tuple(int(d) for d in tensor.shape), rng)
        except ValueError as exc:
            raise ValueError(f"layer '{node.name}' ({node.op}), tensor '{tensor.name}': {exc}") from exc
        if tensor.name in given:
            out[tensor.name] = np.asarray(given[tensor.name], dtype=out[tensor.name].dtype)
    return out


def init_state(graph, seed: int) -> dict:
    """Checkpoint key -> NumPy array (float64 / int64) for the whole graph, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    state = {}
    for node in graph.layers():
        for name, value in init_node(node, rng).items():
            state[f"{node.module_path}.{name}"] = value
    return state
