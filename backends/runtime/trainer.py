"""Training on the shared runtime (NumPy and Numba-CUDA): data, model, optimizer and checkpoints.

`train(graph, options, make_ops, backend_name)` where make_ops(dtype, rng) returns the backend's Ops.
"""
from __future__ import annotations

import os

import numpy as np

from backends import checkpoint
from backends.base import resolve_data_path
from backends.loop import TrainingRun, prepare_run_dir
from netspec.config import read_pretrain, read_train
from netspec.errors import UserError

from .init import init_state
from .jit_notice import announce_compiles
from .model import Model
from .optim import Optimizer, clip_grad_norm


def run_settings(graph, options):
    """The validated train section with the command line's overrides applied."""
    cfg = read_train(graph.train)
    values = cfg.values
    for key in ("epochs", "batch_size", "seed", "dtype"):
        if getattr(options, key, None) is not None:
            values[key] = getattr(options, key)
    data = dict(cfg.data.values)
    data.update(options.data or {})
    data["path"] = resolve_data_path(graph, data.get("path"))
    return cfg, data


def load_data(graph, data: dict, seed: int):
    from netspec.data import load_dataset
    cfg = read_train(graph.train)
    if len(graph.inputs) > 1 or len(graph.outputs) > 1 or data.get("name") == "digits_captions":
        from netspec.multidata import load_multi_dataset
        inputs = {name: (tuple(graph[name].shape), graph[name].dtype) for name in graph.inputs}
        return load_multi_dataset(data, inputs, list(graph.outputs), seed, cfg.loss)
    node = graph[graph.inputs[0]]
    shape = tuple(node.shape)
    loss = None if cfg.task == "reconstruction" else cfg.loss       # reconstruction never reads the targets
    return load_dataset(data, shape, seed=seed, input_dtype=node.dtype, loss=loss)


def targets_of(dataset, cfg, split: str):
    x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
    task = cfg.task or dataset.task
    return x if task == "reconstruction" else y


def _maybe_pretrain(graph, dataset, state: dict, options, log, backend_name: str) -> dict:
    if not graph.pretrain or not any(n.op == "rbm" for n in graph.layers()):
        return state
    try:
        from backends.energy import pretrain
    except ImportError as exc:
        raise UserError(f"spec '{graph.name}' asks for RBM pretraining but backends.energy is not available "
                        f"({exc})", "remove the 'pretrain:' section to train without it") from None
    read_pretrain(graph.pretrain)
    return pretrain(graph, dataset, state, options, log, backend=backend_name)


def train(graph, options, make_ops, backend_name: str) -> dict:
    """Train `graph` on its data; return the JSON result (see backends.base.RESULT_KEYS).

    The policy (run directory, resume, epochs, lines, metrics, plot, checkpoints, Ctrl-C) is backends/loop.py.
    """
    cfg, data = run_settings(graph, options)
    pretraining = bool(graph.pretrain) and any(n.op == "rbm" for n in graph.layers())
    prepare_run_dir(options.out_dir, options.resume, getattr(options, "overwrite", False), pretraining)
    run = TrainingRun(options.out_dir, cfg.epochs, cfg.schedule, float(cfg.optimizer.lr), cfg.checkpoint_every,
                      options.max_steps, options.progress, resume_command=getattr(options, "resume_command", None))
    with run.interruptible(), announce_compiles(run.log, cuda=backend_name == "numba-cuda"):
        rng = np.random.default_rng(cfg.seed)
        dataset = load_data(graph, data, cfg.seed)
        if len(dataset.x_train) == 0:
            raise UserError(f"{data.get('path') or data['name']}: the training set is empty")
        resume = options.resume and os.path.exists(run.checkpoint)
        if resume:
            state_np, extra, meta = checkpoint.load(run.checkpoint)
            checkpoint.check_layout(graph, state_np, run.checkpoint)
            shapes = {key: shape for key, (shape, is_trainable) in graph.state_layout().items() if is_trainable}
            checkpoint.check_optimizer_state(extra, shapes, cfg.optimizer.type, run.checkpoint,
                                             cfg.optimizer.momentum)
            run.resumed_from(meta)
            checkpoint.restore_numpy_rng(rng, meta.get("rng"), run.checkpoint)
        else:
            extra = {}
            state_np = _maybe_pretrain(graph, dataset, init_state(graph, cfg.seed), options, run.log, backend_name)
        run.open_metrics(resume)
        ops = make_ops(cfg.dtype, rng)
        model = Model(graph, ops, state_np)
        trainable = [key for key, (_, is_trainable) in graph.state_layout().items() if is_trainable]
        optimizer = Optimizer(ops, cfg.optimizer, trainable, graph.param_clips())
        optimizer.load_state_arrays(extra)
        steps = _Steps(graph, model, optimizer, rng, dataset, cfg, run.checkpoint, backend_name)
        return run.fit(steps, backend_name)


class _Steps:
    """The runtime's half of a training run (see backends.loop.TrainingRun.fit)."""

    def __init__(self, graph, model, optimizer, rng, dataset, cfg, path: str, backend_name: str):
        self.graph, self.model, self.optimizer, self.rng, self.cfg = graph, model, optimizer, rng, cfg
        self.x_train, self.y_train = dataset.x_train, targets_of(dataset, cfg, "train")
        self.x_test, self.y_test = dataset.x_test, targets_of(dataset, cfg, "test")
        self.path, self.backend_name = path, backend_name

    def set_lr(self, lr: float) -> None:
        self.optimizer.set_lr(lr)

    def batches(self, epoch: int) -> list:
        order, size = self.rng.permutation(len(self.x_train)), self.cfg.batch_size
        return [order[start:start + size] for start in range(0, len(order), size)]

    def step(self, idx) -> tuple:
        model = self.model
        loss, outs, labels, grads = model.train_step(self.x_train[idx], self.y_train[idx])
        if not np.isfinite(loss):
            raise UserError(f"training diverged: the loss became {loss}", "lower the learning rate or add grad_clip")
        if self.cfg.grad_clip:
            clip_grad_norm(model.ops, grads, self.cfg.grad_clip)
        self.optimizer.step(model.state, grads)
        return float(loss), model.accuracy(outs, labels)

    def totals(self, loss_sum, accuracy_sum, seen: int) -> tuple:
        return float(loss_sum), accuracy_sum, seen

    def evaluate(self) -> dict:
        return self.model.evaluate(self.x_test, self.y_test) if len(self.x_test) else {}

    def save(self, epoch: int, partial: bool) -> None:
        save_checkpoint(self.path, self.graph, self.model, self.optimizer, self.rng, epoch, self.backend_name,
                        partial)


def save_checkpoint(path, graph, model, optimizer, rng, epoch: int, backend_name: str, partial: bool = False) -> None:
    """Parameters, optimizer state and RNG state after `epoch` completed epochs, written atomically."""
    meta = {"spec": graph.name, "source_hash": graph.source_hash, "epoch": epoch, "backend": backend_name,
            "dtype": str(model.ops.dtype), "rng": rng.bit_generator.state, "partial": partial}
    checkpoint.save(path, model.state_numpy(), meta=meta, extra=optimizer.state_arrays())


def load_model(graph, checkpoint_path: str, make_ops, dtype: str | None = None) -> Model:
    """A Model with a checkpoint's parameters (checked against the graph's layout)."""
    state, _, _meta = checkpoint.load(checkpoint_path)
    checkpoint.check_layout(graph, state, checkpoint_path)
    cfg = read_train(graph.train)
    return Model(graph, make_ops(dtype or cfg.dtype, np.random.default_rng(0)), state)
