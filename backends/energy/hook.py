"""The pretraining hook the trainers call: `pretrain(graph, dataset, state, options, log) -> state`.

Reads the spec's `pretrain:` section and the per-layer overrides on each `rbm` layer, trains the RBM
stack (greedy DBN, DBM with joint training, or an autoencoder's encoder) on the training inputs (labels
unused), and returns the state with the RBMs' weights and the tied decoders' biases filled in.
"""
from __future__ import annotations

import json
import os

import numpy as np

from compiler import stacks
from netspec.config import read_pretrain, read_train
from netspec.errors import UserError

from .rbm import RBM, RBMConfig
from .resume import PretrainProgress
from .stack import DBM, LayerPlan, dbn_sample, train_dbn

PRETRAINED = "pretrained.npz"
OVERRIDES = ("k", "persistent", "chains", "lr", "momentum", "weight_decay", "sparsity", "sparsity_cost",
             "init_scale", "epochs", "batch_size", "propagate")


def _stack(check, *args):
    """compiler.stacks' `check(*args)`, its StackError as a located UserError."""
    try:
        return check(*args)
    except stacks.StackError as exc:
        raise UserError(f"{exc.node.pos}: layer '{exc.node.name}' (rbm): {exc}", exc.hint) from None


def rbm_chain(graph) -> list:
    """The graph's rbm nodes bottom-up (see compiler.stacks); a graph that is no stack raises UserError."""
    return _stack(stacks.rbm_chain, graph)


def layer_config(section, node) -> RBMConfig:
    """The section's settings with the layer's own overrides."""
    values = {key: section.get(key) for key in ("k", "persistent", "chains", "lr", "momentum", "momentum_switch",
                                                 "weight_decay", "sparsity", "sparsity_cost", "init_scale", "epochs",
                                                 "batch_size", "propagate", "seed")}
    values["method"] = "pcd" if section.method == "pcd" else "cd"
    config = RBMConfig(**{k: v for k, v in values.items() if v is not None})
    changes = {key: node.attrs.get(key) for key in OVERRIDES}
    if node.attrs.get("method"):
        changes["method"] = node.attrs["method"]
        changes["persistent"] = node.attrs["method"] == "pcd"
    return config.updated(**changes)


def plans_of(graph, section) -> list:
    return [LayerPlan(n.name, n.attrs["hidden"], n.attrs["visible_units"], n.attrs["hidden_units"],
                      layer_config(section, n)) for n in rbm_chain(graph)]


def gibbs_samples(graph, state: dict, count: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Visible means after `steps` Gibbs sweeps of `count` chains through the graph's RBM stack, with the
    weights of `state` (checkpoint keys): a DBM's sweeps for method dbm, else a DBN's (top RBM, then down)."""
    rbms = [RBM(int(node.in_shapes[0][0]), node.attrs["hidden"], node.attrs["visible_units"],
                node.attrs["hidden_units"]).load({name: state[f"{node.module_path}.{name}"]
                                                  for name in ("weight", "bias", "visible_bias")})
            for node in rbm_chain(graph)]
    method = read_pretrain(graph.pretrain).method if graph.pretrain else "cd"
    return DBM(rbms).sample(count, steps, rng) if method == "dbm" else dbn_sample(rbms, count, steps, rng)


def engine_for(backend: str | None, log):
    """The update engine factory for a backend: None (the host engine) or the CUDA device engine."""
    if backend != "numba-cuda":
        return None
    from backends.numba_cuda.rbm import DeviceEngine
    log("pretraining runs on the CUDA device (bernoulli/gaussian units; others on the host engine)")
    return DeviceEngine.factory


def pretrain(graph, dataset, state: dict, options, log, backend: str | None = None) -> dict:
    """Pretrain the graph's RBM stack on dataset.x_train; return a new state dict.

    With options.resume, continues from out_dir/pretrain_state.npz when a killed run left one.
    `backend` 'numba-cuda' runs the RBM updates on the device; schedules and monitors are shared.
    """
    section = read_pretrain(graph.pretrain)
    train_cfg = read_train(graph.train)
    dtype = np.dtype(getattr(options, "dtype", None) or train_cfg.dtype)
    plans = plans_of(graph, section)
    data = np.asarray(dataset.x_train, dtype=dtype).reshape(len(dataset.x_train), -1)
    held = np.asarray(dataset.x_test, dtype=dtype).reshape(len(dataset.x_test), -1) if len(dataset.x_test) else None
    log = log or (lambda message: None)
    out_dir = getattr(options, "out_dir", None)
    rows_path = os.path.join(out_dir, "pretrain.jsonl") if out_dir else None
    identity = {"spec": graph.name, "source_hash": graph.source_hash, "method": section.method,
                "backend": backend or "numpy"}
    progress = PretrainProgress(out_dir, identity, bool(getattr(options, "resume", False)), log)
    rows = progress.rows
    engine = engine_for(backend, log)

    def record(layer, row):
        rows.append({"layer": layer, **row})
        log(f"pretrain {layer} " + " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in row.items()))

    total_epochs = sum(p.config.epochs for p in plans)
    log(f"pretraining {len(plans)} rbm layer(s) of {graph.name} ({section.method}, {total_epochs} epochs in all)")
    state = dict(state)
    if section.method == "dbm":
        _stack(stacks.check_pretrain_stack, graph, "dbm")
        dbm = DBM.pretrain(data, plans, dtype, record, progress, engine)
        if section.joint_epochs:      # a whole-stack stage: the section's settings, not a layer's overrides
            final_momentum = float(np.atleast_1d(section.momentum)[-1])
            dbm.fit(data, section.joint_epochs, lr=section.joint_lr, batch_size=section.batch_size,
                    chains=section.chains, mean_field_steps=section.mean_field_steps, momentum=final_momentum,
                    weight_decay=section.weight_decay, seed=section.seed, log=record, progress=progress)
        layer_params = dbm.params()
    else:
        layer_params = [r.params() for r in train_dbn(data, plans, dtype, record, held, progress=progress,
                                                      engine=engine)]
    for plan, params in zip(plans, layer_params):
        prefix = plan.name.replace("/", ".")
        for key, value in params.items():
            state[f"{prefix}.{key}"] = np.asarray(value).copy()
    for node in graph.layers():
        if node.op == "tied":
            ref = graph[node.attrs["of"]].module_path
            state[f"{node.module_path}.bias"] = np.asarray(state[f"{ref}.visible_bias"]).copy()
    if out_dir:      # the generative model before fine-tuning changes it: what `netspec sample` reads
        from backends import checkpoint
        checkpoint.save(os.path.join(out_dir, PRETRAINED), state, {"spec": graph.name, "source_hash": graph.source_hash,
                                                                   "phase": "pretrained", "method": section.method})
    if rows_path:
        from backends.checkpoint import atomic_write
        text = "".join(json.dumps(row) + "\n" for row in rows).encode()
        atomic_write(rows_path, lambda handle: handle.write(text))
    return state
