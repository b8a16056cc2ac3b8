"""Initial parameters as NumPy arrays, keyed by checkpoint key: PyTorch's defaults, xavier, he, normal."""
from __future__ import annotations

import math

import numpy as np


def _fan_in(shape) -> int:
    return int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])


def _fan_out(shape) -> int:
    return int(shape[0] * np.prod(shape[2:])) if len(shape) > 1 else int(shape[0])


def _uniform(rng, bound, shape):
    return rng.uniform(-bound, bound, size=shape)


def _weight(rng, scheme: str, shape, fan_in: int):
    if scheme == "xavier":        # xavier_uniform_, gain 1
        return _uniform(rng, math.sqrt(6.0 / (fan_in + _fan_out(shape))), shape)
    if scheme == "he":            # kaiming_normal_(mode='fan_in', nonlinearity='relu')
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
    if scheme == "normal":
        return rng.normal(0.0, 0.01, size=shape)
    # PyTorch default for Linear/Conv: kaiming_uniform_(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    return _uniform(rng, 1.0 / math.sqrt(fan_in), shape)


def init_node(node, rng: np.random.Generator) -> dict:
    """Local name -> float64 array for every parameter and buffer of one node."""
    out = {}
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in (*node.params, *node.buffers)}
    op, attrs = node.op, node.attrs
    if op in ("linear", "conv1d", "conv2d"):
        shape = shapes["weight"]
        fan_in = _fan_in(shape)
        scheme = attrs.get("init", "default")
        out["weight"] = _weight(rng, scheme, shape, fan_in)
        if "bias" in shapes:
            out["bias"] = (_uniform(rng, 1.0 / math.sqrt(fan_in), shapes["bias"]) if scheme == "default"
                           else np.zeros(shapes["bias"]))
    elif op in ("rnn", "lstm", "gru"):
        bound = 1.0 / math.sqrt(attrs["hidden"])     # PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H))
        for name, shape in shapes.items():
            out[name] = _uniform(rng, bound, shape)
    elif op == "embedding":
        weight = rng.normal(0.0, 1.0, size=shapes["weight"])
        if attrs.get("padding_idx") is not None:
            weight[attrs["padding_idx"]] = 0.0
        out["weight"] = weight
    elif op == "batchnorm":
        channels = shapes["running_mean"]
        if "weight" in shapes:
            out["weight"], out["bias"] = np.ones(channels), np.zeros(channels)
        out["running_mean"], out["running_var"] = np.zeros(channels), np.ones(channels)
        out["num_batches_tracked"] = np.zeros((), dtype=np.int64)
    elif op == "rbm":
        scale = attrs.get("init_scale") or 0.01
        out["weight"] = rng.normal(0.0, scale, size=shapes["weight"])
        out["bias"] = np.zeros(shapes["bias"])
        out["visible_bias"] = np.zeros(shapes["visible_bias"])
    else:
        for name, shape in shapes.items():
            out[name] = np.zeros(shape)
    return out


def init_state(graph, seed: int) -> dict:
    """Checkpoint key -> NumPy array (float64 / int64) for the whole graph, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    state = {}
    for node in graph.layers():
        for name, value in init_node(node, rng).items():
            state[f"{node.module_path}.{name}"] = value
    return state
