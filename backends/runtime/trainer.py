"""The training loop shared by every executing backend: data, epochs, schedules, checkpoints, resume.

`train(graph, options, make_ops, backend_name)` where make_ops(dtype, rng) returns the backend's Ops.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from backends import checkpoint
from backends.base import resolve_data_path
from backends.progress import MetricsLog, ProgressBar
from netspec.config import read_pretrain, read_train
from netspec.errors import UserError

from .init import init_state
from .model import Model, require_one_input
from .optim import Optimizer, clip_grad_norm, scheduled_lr

CHECKPOINT = "checkpoint.npz"


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
    require_one_input(graph)
    node = graph[graph.inputs[0]]
    shape = tuple(node.shape)
    cfg = read_train(graph.train)
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
    """Train `graph` on its data; return the JSON result (see backends.base.RESULT_KEYS)."""
    cfg, data = run_settings(graph, options)
    log = (lambda message: print(message, file=sys.stderr)) if options.progress else (lambda message: None)
    rng = np.random.default_rng(cfg.seed)
    dataset = load_data(graph, data, cfg.seed)
    y_train, y_test = targets_of(dataset, cfg, "train"), targets_of(dataset, cfg, "test")
    ckpt_path = os.path.join(options.out_dir, CHECKPOINT)
    metrics = MetricsLog(os.path.join(options.out_dir, "metrics.jsonl"), resume=options.resume)
    start_epoch, extra = 0, {}
    if options.resume and os.path.exists(ckpt_path):
        state_np, extra, meta = checkpoint.load(ckpt_path)
        checkpoint.check_layout(graph, state_np, ckpt_path)
        shapes = {key: shape for key, (shape, is_trainable) in graph.state_layout().items() if is_trainable}
        checkpoint.check_optimizer_state(extra, shapes, cfg.optimizer.type, ckpt_path, cfg.optimizer.momentum)
        start_epoch = int(meta.get("epoch", 0))
        checkpoint.restore_numpy_rng(rng, meta.get("rng"), ckpt_path)
        metrics.truncate(start_epoch)
        if meta.get("partial"):
            log(f"note: {ckpt_path} was saved inside epoch {start_epoch + 1} (--max-steps); that epoch restarts "
                "from those weights")
        log(f"resuming {graph.name} from epoch {start_epoch} ({ckpt_path})")
    else:
        if options.resume:
            log(f"no checkpoint at {ckpt_path}; starting from scratch")
        state_np = _maybe_pretrain(graph, dataset, init_state(graph, cfg.seed), options, log, backend_name)

    ops = make_ops(cfg.dtype, rng)
    model = Model(graph, ops, state_np)
    trainable = [key for key, (_, is_trainable) in graph.state_layout().items() if is_trainable]
    optimizer = Optimizer(ops, cfg.optimizer, trainable)
    optimizer.load_state_arrays(extra)

    x_train = dataset.x_train
    count, batch = len(x_train), cfg.batch_size
    if count == 0:
        raise UserError(f"{data.get('path') or data['name']}: the training set is empty")
    batches = (count + batch - 1) // batch
    epochs = cfg.epochs
    train_seconds, train_samples, final_loss, steps_left = 0.0, 0, float("nan"), options.max_steps
    partial = False
    for epoch in range(start_epoch, epochs):
        if steps_left is not None and steps_left <= 0:
            break
        lr = scheduled_lr(cfg.schedule, optimizer.base_lr, epoch, epochs)
        optimizer.set_lr(lr)
        order = rng.permutation(count)
        bar = ProgressBar(batches, f"epoch {epoch + 1}/{epochs}", enabled=options.progress)
        loss_sum, seen, correct, start = 0.0, 0, 0, time.perf_counter()
        for index in range(batches):
            if steps_left is not None and steps_left <= 0:
                break
            idx = order[index * batch:(index + 1) * batch]
            yb = y_train[idx]
            loss, out, grads = model.train_step(x_train[idx], yb)
            if cfg.grad_clip:
                clip_grad_norm(ops, grads, cfg.grad_clip)
            optimizer.step(model.state, grads)
            if not np.isfinite(loss):
                raise UserError(f"training diverged: the loss became {loss} in epoch {epoch + 1}",
                                "lower the learning rate or add grad_clip")
            loss_sum += loss * len(idx)
            seen += len(idx)
            if model.loss == "cross_entropy":
                correct += float((ops.to_numpy(out).argmax(-1) == yb).mean()) * len(idx)
            bar.update(index + 1, seen, loss=loss_sum / seen)
            steps_left = None if steps_left is None else steps_left - 1
        bar.close()
        elapsed = time.perf_counter() - start
        train_seconds += elapsed
        train_samples += seen
        final_loss = loss_sum / max(seen, 1)
        if seen < count:          # cut short by --max-steps: no metrics row or checkpoint for a partial epoch
            partial = True
            break
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": final_loss, "seconds": round(elapsed, 4),
               "samples_per_second": seen / max(elapsed, 1e-9)}
        if model.loss == "cross_entropy":
            row["train_accuracy"] = correct / max(seen, 1)
        row.update(model.evaluate(dataset.x_test, y_test))
        metrics.append(row)
        log(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == epochs:
            save_checkpoint(ckpt_path, graph, model, optimizer, rng, epoch + 1, backend_name)
    epochs_done = metrics.rows[-1]["epoch"] if metrics.rows else start_epoch
    if partial and not os.path.exists(ckpt_path):
        # stopped inside the first epoch: keep the weights for eval/predict; a resume restarts that epoch
        save_checkpoint(ckpt_path, graph, model, optimizer, rng, epochs_done, backend_name, partial=True)
    elif not os.path.exists(ckpt_path):
        save_checkpoint(ckpt_path, graph, model, optimizer, rng, epochs_done, backend_name)
    from backends.plot import write_training_plot
    plot_path = os.path.join(options.out_dir, "training.png")
    if metrics.rows:
        write_training_plot(plot_path, metrics.rows)
    last = metrics.rows[-1] if metrics.rows else {}
    if train_samples == 0 and last:       # resumed after the last epoch: report the recorded one
        final_loss = last.get("train_loss", final_loss)
    result = {"backend": backend_name, "epochs": epochs_done, "final_loss": final_loss,
              "seconds": round(train_seconds, 4),
              "samples_per_second": train_samples / train_seconds if train_seconds else 0.0,
              "checkpoint": ckpt_path, "metrics": metrics.path}
    if metrics.rows:
        result["plot"] = plot_path
    for key in ("test_loss", "test_accuracy"):
        if key in last:
            result[key] = last[key]
    if not last and len(dataset.x_test):
        result.update(model.evaluate(dataset.x_test, y_test))
    return result


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
