"""Run a trained checkpoint with any backend: batch predictions and test-set metrics (eval/predict)."""
from __future__ import annotations

import numpy as np

from netspec.errors import UserError

from .runtime.model import output_activation


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
    """A function x (NumPy batch) -> the first output (NumPy) with the checkpoint's weights on `backend` (None:
    the weights the spec gives)."""
    run_all = predictor_all(graph, checkpoint_path, backend, dtype)
    return lambda x: run_all(x)[graph.outputs[0]]


def predictor_all(graph, checkpoint_path: str | None, backend: str = "numpy", dtype: str | None = None):
    """A function x -> {output name: NumPy array}; x is one array, or Arrays named after the inputs."""
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
        return lambda x: {k: np.asarray(model.ops.to_numpy(v)) for k, v in model.forward_all(x).items()}
    import torch
    generated = module.load_module(graph)
    net = generated.build_model()
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    net.eval()

    def run(x):
        arrays = x.arrays if hasattr(x, "arrays") else {graph.inputs[0]: x}
        for name in graph.inputs:
            generated.check_token_ids(arrays[name], generated.SPEC["inputs"][name]["vocab"])
        with torch.no_grad():
            out = net(*[torch.from_numpy(np.ascontiguousarray(arrays[name])) for name in graph.inputs])
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return {name: value.numpy() for name, value in zip(graph.outputs, outs)}
    return run


def predict_all(run, x, batch_size: int = 256):
    """Every sample through `run` in batches: an array, or a dict of arrays when run returns one."""
    parts = [run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if parts and isinstance(parts[0], dict):
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return np.concatenate(parts) if parts else np.zeros((0,))


def metrics(graph, outputs, targets) -> dict:
    """Mean loss (the spec's, computed in float64 by NumpyOps) and accuracy for class targets; per output
    when several. outputs: the first output's array, or {output: array}; targets: an array or Arrays."""
    from backends.numpy.ops import NumpyOps
    from netspec.multidata import summarize

    from .runtime.model import score_batch, token_hits
    if not isinstance(outputs, dict):
        outputs = {graph.outputs[0]: outputs}
    terms = model_terms(graph)
    loss, each, labels = score_batch(NumpyOps("float64"), terms, {k: v.astype(np.float64) for k, v in
                                                                  outputs.items()}, targets)
    per_output = {}
    for term in terms:
        name = term["output"]
        accuracy = None
        if term["type"] == "cross_entropy":
            correct, counted = token_hits(outputs[name], labels[name])
            accuracy = correct / counted if counted else None
        per_output[name] = (each[name], accuracy)
    return {"samples": len(next(iter(outputs.values()))), **summarize(loss, per_output)}


def model_terms(graph) -> list:
    from netspec.losses import loss_terms
    return [{**term, "activation": output_activation(graph, term["output"])} for term in loss_terms(graph)]


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
