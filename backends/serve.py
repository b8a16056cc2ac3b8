"""Run a trained checkpoint with any backend: batch predictions and test-set metrics (eval/predict)."""
from __future__ import annotations

import numpy as np

from netspec.errors import UserError

from .runtime.model import loss_kind, output_activation


def given_state(graph) -> dict:
    """The spec's own parameters where every one is given by `weights:` (a perceptron's gates); else UsageError."""
    from netspec.errors import UsageError

    from .runtime.init import init_state
    missing = [f"{n.name}.{t.name}" for n in graph.layers() for t in (*n.params, *n.buffers)
               if t.name not in (n.attrs.get("weights") or {})]
    if missing:
        raise UsageError(f"--checkpoint is needed: spec '{graph.name}' gives no 'weights:' for "
                         f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    return init_state(graph, 0)


def predictor(graph, checkpoint_path: str | None, backend: str = "numpy", dtype: str | None = None):
    """A function x (NumPy batch) -> outputs (NumPy) with the checkpoint's weights on `backend` (None: the
    weights the spec gives)."""
    from backends import checkpoint, get_backend
    module = get_backend(backend)
    ok, reason = module.available()
    if not ok:
        raise UserError(f"backend '{backend}' is not available here: {reason}")
    if checkpoint_path is None:
        state = given_state(graph)
    else:
        state, _, _ = checkpoint.load(checkpoint_path)
        checkpoint.check_layout(graph, state, checkpoint_path)
    if hasattr(module, "make_ops"):
        from netspec.config import read_train

        from .runtime.model import Model
        model = Model(graph, module.make_ops(dtype or read_train(graph.train).dtype, np.random.default_rng(0)), state,
                      frozen=True)
        return lambda x: np.asarray(model.ops.to_numpy(model.forward(x)))
    import torch
    generated = module.load_module(graph)
    net = generated.build_model()
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    net.eval()
    vocab = generated.SPEC["inputs"][graph.inputs[0]]["vocab"]

    def run(x):
        generated.check_token_ids(x, vocab)
        with torch.no_grad():
            out = net(torch.from_numpy(np.ascontiguousarray(x)))
        return (out[0] if isinstance(out, (tuple, list)) else out).numpy()
    return run


def predict_all(run, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    parts = [run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,))


def metrics(graph, outputs: np.ndarray, targets: np.ndarray) -> dict:
    """Mean loss (the spec's, computed in float64 by NumpyOps) and accuracy for class targets."""
    from backends.numpy.ops import NumpyOps
    ops = NumpyOps("float64")
    kind = loss_kind(graph)
    target = targets.astype(np.int64) if kind == "cross_entropy" else targets.astype(np.float64)
    out = {"samples": len(outputs),
           "test_loss": ops.loss_forward(kind, {}, outputs.astype(np.float64), target, output_activation(graph))}
    if kind == "cross_entropy":
        out["test_accuracy"] = float((outputs.argmax(axis=-1) == targets).mean())
    return out


def fit_input(graph, x: np.ndarray, origin: str) -> np.ndarray:
    """Check (and reshape) user input to the spec's per-sample input shape and dtype."""
    node = graph[graph.inputs[0]]
    shape = tuple(node.shape)
    is_int = node.dtype.startswith("int")
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{origin}: input must be numeric, found {x.dtype}")
    if all(isinstance(d, int) for d in shape):
        if x.shape == shape:
            x = x[None]
        from netspec.data import fit_shape
        x = fit_shape(x, shape, origin)
    elif x.ndim != len(shape) + 1:
        if x.ndim == len(shape):
            x = x[None]
        else:
            raise UserError(f"{origin}: input has shape {x.shape}, the spec's input is {shape} per sample")
    return x.astype(np.int64 if is_int else np.float32)
