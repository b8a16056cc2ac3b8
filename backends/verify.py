"""Cross-backend verification: one set of weights and one batch through every backend available here.

Each backend computes the outputs and the gradient of the spec's loss w.r.t. every parameter, in
training mode (batchnorm uses batch statistics) with dropout switched off so that the runs are
deterministic. NumPy is the reference; for every other backend the report gives the largest
difference in outputs and in gradients, absolute and relative to the reference's largest magnitude.
"""
from __future__ import annotations

import copy
import importlib

import numpy as np

from compiler.dims import Sym

from .runtime.executor import Executor
from .runtime.init import init_state

SEQUENCE_STEPS = 5          # the length given to a symbolic dim such as T


def deterministic(graph):
    """A copy of the graph with every dropout probability set to 0."""
    graph = copy.deepcopy(graph)
    for node in graph.layers():
        if node.op == "dropout":
            node.attrs["p"] = 0.0
        if node.op in ("rnn", "lstm", "gru"):
            node.attrs["dropout"] = 0.0
    return graph


def _concrete(shape):
    return tuple(SEQUENCE_STEPS if isinstance(d, Sym) or not isinstance(d, int) else int(d) for d in shape)


def make_batch(graph, batch: int, seed: int = 0) -> dict:
    """Random inputs for every graph input: normal floats, token ids within the consumers' vocabulary."""
    rng = np.random.default_rng(seed)
    consumers = graph.consumers()
    out = {}
    for name in graph.inputs:
        node = graph[name]
        shape = (batch, *_concrete(node.shape))
        if node.dtype.startswith("int"):
            vocabs = [graph[c].attrs.get("vocab", 2) for c in consumers[name]]
            out[name] = rng.integers(0, min(vocabs) if vocabs else 2, size=shape).astype(np.int64)
        else:
            out[name] = rng.normal(0.0, 1.0, size=shape).astype(np.float32)
    return out


def make_target(kind: str, output_shape: tuple, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "cross_entropy":
        return rng.integers(0, output_shape[-1], size=output_shape[:-1]).astype(np.int64)
    if kind == "bce":
        return rng.uniform(0.0, 1.0, size=output_shape).astype(np.float32)
    return rng.normal(0.0, 1.0, size=output_shape).astype(np.float32)


def make_targets(graph, outputs: dict, target_seed: int = 1):
    """One random target per output (the loss terms of the spec, in output order), as netspec Arrays."""
    from netspec.multidata import Arrays

    from .serve import model_terms
    terms = model_terms(graph)
    return terms, Arrays({t["output"]: make_target(t["type"], tuple(outputs[t["output"]].shape), target_seed + i)
                          for i, t in enumerate(terms)})


def run_runtime(graph, make_ops, state: dict, inputs: dict, target_seed: int = 1, dtype: str = "float32"):
    """(outputs, loss, gradients) as NumPy arrays from a runtime backend; the loss is the weighted sum of every
    output's term."""
    from .runtime.model import score_batch
    ops = make_ops(dtype, np.random.default_rng(0))
    params = {key: ops.from_numpy(value) for key, value in state.items()}
    executor = Executor(graph, ops, params)
    outs = executor.forward({k: ops.from_numpy(v) for k, v in inputs.items()}, train=True)
    terms, targets = make_targets(graph, outs, target_seed)
    loss, _each, _labels, grad_outs = score_batch(ops, terms, outs, targets, backward=True)
    grads = executor.backward(grad_outs)
    return ({k: np.array(ops.to_numpy(v)) for k, v in outs.items()}, loss,
            {k: np.array(ops.to_numpy(v)) for k, v in grads.items()})


def run_torch(graph, state: dict, inputs: dict, target_seed: int = 1, dtype: str = "float32"):
    """(outputs, loss, gradients) from the generated PyTorch model (backends.torch.build_model), with the
    generated file's own loss code."""
    import torch

    from backends.torch import build_model
    from backends.torch.trainer import batch_losses
    model = build_model(graph)
    if dtype == "float64":
        model = model.double()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    model.train()
    args = [torch.from_numpy(inputs[name]) for name in graph.inputs]
    result = model(*args)
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    outs = dict(zip(graph.outputs, results))
    terms, targets = make_targets(graph, outs, target_seed)
    targets = targets.map(lambda t: torch.from_numpy(t).to(outs[graph.outputs[0]].dtype)
                          if t.dtype.kind == "f" else torch.from_numpy(t))
    loss, _each, _labels = batch_losses(outs, targets, terms)
    loss.backward()
    grads = {}
    for key, param in model.named_parameters():
        grads[key] = param.grad.detach().numpy().copy() if param.grad is not None else np.zeros(param.shape, np.float32)
    return {k: v.detach().numpy() for k, v in outs.items()}, float(loss.detach()), grads


def _difference(reference: dict, other: dict) -> tuple[float, float, str]:
    """(largest absolute difference, the same relative to the reference's largest magnitude, where)."""
    worst_abs, worst_rel, where = 0.0, 0.0, ""
    for key, ref in reference.items():
        if key not in other:
            return float("inf"), float("inf"), f"{key} missing"
        got = np.asarray(other[key], dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape:
            return float("inf"), float("inf"), f"{key}: shape {got.shape} vs {ref.shape}"
        if ref.size == 0:
            continue
        diff = float(np.max(np.abs(got - ref)))
        rel = diff / max(float(np.max(np.abs(ref))), 1.0)
        if rel > worst_rel or (rel == worst_rel and diff > worst_abs):
            worst_abs, worst_rel, where = diff, rel, key
    return worst_abs, worst_rel, where


def backends_here() -> dict:
    """Name -> (runner or None, reason) for every backend that verify knows."""
    found = {}
    for name, module_name in (("torch", "backends.torch"), ("numba-cuda", "backends.numba_cuda")):
        try:
            module = importlib.import_module(module_name)
            ok, reason = module.available()
        except ImportError as exc:
            ok, reason, module = False, f"not importable ({exc})", None
        if ok and name == "torch" and not hasattr(module, "build_model"):
            ok, reason = False, "backends.torch has no build_model"
        if ok and name == "numba-cuda" and not hasattr(module, "make_ops"):
            ok, reason = False, "backends.numba_cuda has no make_ops"
        found[name] = (module if ok else None, reason)
    return found


def verify(graph, batch: int = 2, seed: int = 0, only: list | None = None, dtype: str = "float32") -> dict:
    """Compare every available backend with NumPy on the same weights and batch; a JSON-ready report."""
    from backends.numpy import make_ops as numpy_ops
    graph = deterministic(graph)
    cast = np.dtype(dtype)
    state = {k: (v.astype(cast) if np.issubdtype(v.dtype, np.floating) else v)
             for k, v in init_state(graph, seed).items()}
    inputs = {k: (v.astype(cast) if np.issubdtype(v.dtype, np.floating) else v)
              for k, v in make_batch(graph, batch, seed).items()}
    ref_out, ref_loss, ref_grads = run_runtime(graph, numpy_ops, state, inputs, dtype=dtype)
    report = {"spec": graph.name, "batch": batch, "dtype": dtype, "params": graph.total_params,
              "reference": "numpy", "loss": ref_loss, "backends": {}}
    for name, (module, reason) in backends_here().items():
        if only and name not in only:
            continue
        if module is None:
            report["backends"][name] = {"skipped": reason}
            continue
        try:
            if name == "torch":
                out, loss, grads = run_torch(graph, state, inputs, dtype=dtype)
            else:
                out, loss, grads = run_runtime(graph, module.make_ops, state, inputs, dtype=dtype)
        except NotImplementedError as exc:      # a layer type this backend does not lower yet
            report["backends"][name] = {"skipped": f"cannot run this spec: {exc}"}
            continue
        out_abs, out_rel, out_where = _difference(ref_out, out)
        grad_abs, grad_rel, grad_where = _difference(ref_grads, grads)
        report["backends"][name] = {"output_max_abs": out_abs, "output_max_rel": out_rel, "output_worst": out_where,
                                    "grad_max_abs": grad_abs, "grad_max_rel": grad_rel, "grad_worst": grad_where,
                                    "loss": loss, "loss_diff": abs(loss - ref_loss)}
    compared = [r for r in report["backends"].values() if "skipped" not in r]
    report["max_difference"] = max((max(r["output_max_rel"], r["grad_max_rel"]) for r in compared), default=0.0)
    if any(n.op == "rbm" for n in graph.layers()) and "skipped" not in report["backends"].get("torch", {"skipped": 1}):
        from backends.energy.verify import compare_rbms  # RBM stacks: free energy and CD gradients too
        report["energy"] = compare_rbms(graph, state, max(batch, 2), seed, dtype)
        report["max_difference"] = max(report["max_difference"], report["energy"]["max_difference"])
    return report
