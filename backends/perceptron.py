"""`train: {method: perceptron, epochs, lr}`: Rosenblatt's learning rule for one layer of step or sign units.

For each sample in turn, out = act(W x + b); where out differs from the target, W += lr (y - out) x^T and
b += lr (y - out). An epoch without a mistake means the data is separated and training stops; a linearly
separable set is always separated after finitely many updates (the perceptron convergence theorem), so mistakes
left after every epoch say the data is not linearly separable (XOR), or needs more epochs. It starts from zero
weights (a spec's `weights:` serve prediction, not this rule's start). The rule is a few
NumPy products whatever `--backend` names; its checkpoint loads in every backend.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from netspec.config import read_train
from netspec.errors import UserError

from . import checkpoint
from .loop import CHECKPOINT, prepare_run_dir
from .runtime.init import init_state
from .runtime.trainer import load_data, run_settings

UNITS = ("step", "sign")


def single_layer(graph):
    """(linear node, 'step' | 'sign') of a spec that is one layer of threshold units (a flatten may come first)."""
    layers = [n for n in graph.layers() if n.op != "flatten"]
    linear = layers[0] if layers else None
    unit = None
    if linear is not None and linear.op == "linear" and not linear.attrs.get("binary"):
        if len(layers) == 1 and linear.activation in UNITS:
            unit = linear.activation
        elif len(layers) == 2 and not linear.activation and layers[1].op in UNITS:
            unit = layers[1].op
    if unit is None:
        where = f"{linear.pos}: " if linear is not None and linear.pos else ""
        raise UserError(f"{where}train.method perceptron trains one linear layer of step or sign units; spec "
                        f"'{graph.name}' has {', '.join(n.op for n in graph.layers())}",
                        "write e.g. '{type: linear, units: 1, activation: step}', or train a deeper net with "
                        "method: backprop")
    return linear, unit


def train(graph, options) -> dict:
    """Run the rule on the spec's training data; save the checkpoint; say whether the data was separated."""
    linear, unit = single_layer(graph)
    cfg, data = run_settings(graph, options)
    lr = np.float32(read_train(graph.train).lr or 1.0)
    dataset = load_data(graph, data, cfg.seed)
    x = dataset.x_train.reshape(len(dataset.x_train), -1).astype(np.float32)   # the checkpoint's arithmetic, so
    y = np.asarray(dataset.y_train, dtype=np.float32).reshape(len(x), -1)       # predict sees what the rule saw
    units = linear.attrs["units"]
    if y.shape[1] != units:
        raise UserError(f"train.data: targets have {y.shape[1]} value(s) per sample, the layer has {units} unit(s)")
    low = 0.0 if unit == "step" else -1.0
    if not np.isin(y, (low, 1.0)).all():
        raise UserError(f"train.data: {unit} units need targets {low:g} or 1, found {sorted(set(y.ravel()))[:6]}",
                        "use 0/1 targets with step units, -1/1 with sign units")
    prepare_run_dir(options.out_dir, False, options.overwrite)
    os.makedirs(options.out_dir, exist_ok=True)
    state = {key: value.astype(np.float32) for key, value in init_state(graph, cfg.seed).items()}
    weight = state[f"{linear.module_path}.weight"] = np.zeros_like(state[f"{linear.module_path}.weight"])
    bias = state.get(f"{linear.module_path}.bias")       # the textbook start: zero weights, not `weights:`
    if bias is not None:
        bias[:] = 0.0

    def outputs(batch):
        z = batch @ weight.T
        if bias is not None:
            z += bias
        return np.where(z > 0, 1.0, low if unit == "step" else np.where(z < 0, -1.0, 0.0)).astype(np.float32)

    start, epochs, log = time.perf_counter(), options.epochs if options.epochs is not None else cfg.epochs, []
    mistakes, epoch = int((outputs(x) != y).any(axis=1).sum()), 0
    while mistakes and epoch < epochs:
        epoch += 1
        for xi, yi in zip(x, y):
            error = yi - outputs(xi[None])[0]
            if error.any():
                weight += lr * np.outer(error, xi)
                if bias is not None:
                    bias += lr * error
        mistakes = int((outputs(x) != y).any(axis=1).sum())
        log.append({"epoch": epoch, "misclassified": mistakes})
        if options.progress:
            print(f"epoch {epoch}/{epochs}: misclassified {mistakes} of {len(x)}", flush=True)
    path = os.path.join(options.out_dir, CHECKPOINT)
    checkpoint.save(path, state,
                    {"spec": graph.name, "source_hash": graph.source_hash, "backend": "perceptron", "epoch": epoch,
                     "dtype": "float32"})
    with open(os.path.join(options.out_dir, "metrics.jsonl"), "w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in log)
    result = {"backend": "perceptron", "epochs": epoch, "separated": not mistakes, "misclassified": mistakes,
              "samples": len(x), "train_accuracy": 1.0 - mistakes / len(x),
              "seconds": round(time.perf_counter() - start, 4), "checkpoint": path}
    if mistakes:
        result["verdict"] = (f"not linearly separable: {mistakes} of {len(x)} samples are still misclassified after "
                             f"{epoch} epochs (a separable set is separated in finitely many updates)")
    return result
