"""A graph with its parameters on one backend: batching, losses, evaluation and prediction."""
from __future__ import annotations

import numpy as np

from netspec.losses import IGNORE, loss_terms
from netspec.multidata import summarize

from .executor import Executor


def loss_kind(graph) -> str:
    from netspec.config import read_train
    return read_train(graph.train).loss


def output_activation(graph, name: str | None = None) -> str | None:
    """'softmax' or 'sigmoid' when an output (default: the first) ends with one, so the loss takes probabilities."""
    node = graph[name or graph.outputs[0]]
    if node.op in ("softmax", "sigmoid"):
        return node.op
    return node.activation if node.activation in ("softmax", "sigmoid") else None


def scored_labels(target: np.ndarray, steps: int | None, ignore_index: int | None) -> np.ndarray:
    """Class targets as the loss scores them: `ignore_index` ids become IGNORE, and a sequence target shorter
    than the output's `steps` is aligned to its last steps (the first ones, e.g. an image step, are not scored)."""
    target = np.asarray(target, dtype=np.int64)
    if ignore_index is not None:
        target = np.where(target == ignore_index, IGNORE, target)
    if steps is not None and target.ndim >= 2 and target.shape[1] < steps:
        full = np.full((target.shape[0], steps, *target.shape[2:]), IGNORE, dtype=np.int64)
        full[:, steps - target.shape[1]:] = target
        target = full
    return target


def token_hits(out: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(correct, counted) argmax predictions of class outputs, IGNORE targets excluded."""
    counted = labels != IGNORE
    return int(((out.argmax(axis=-1) == labels) & counted).sum()), int(counted.sum())


def score_batch(ops, terms: list, outs: dict, y, backward: bool = False):
    """(weighted total loss, {output: loss}, {output: scored labels}[, {output: gradient}]) of a batch's outputs
    (backend Arrays) against y (one array, or Arrays named after the outputs), one term per output."""
    targets = y.arrays if hasattr(y, "arrays") else {terms[0]["output"]: y}
    total, each, labels, grads = 0.0, {}, {}, {}
    for term in terms:
        name, out = term["output"], outs[term["output"]]
        if term["type"] == "cross_entropy":
            labels[name] = scored_labels(targets[name], out.shape[1] if len(out.shape) > 2 else None,
                                         term["ignore_index"])
        else:
            labels[name] = np.asarray(targets[name], dtype=ops.dtype)
        ctx: dict = {}
        each[name] = ops.loss_forward(term["type"], ctx, out, ops.from_numpy(labels[name]), term["activation"])
        total += term["weight"] * each[name]
        if backward:
            grads[name] = ops.loss_backward(ctx)
            if term["weight"] != 1.0:
                ops.scale_(grads[name], term["weight"])
    return (total, each, labels, grads) if backward else (total, each, labels)


class Model:
    """Parameters (backend Arrays keyed by PyTorch names) plus an Executor over the graph.

    x is one array (a single input) or netspec.multidata.Arrays named after the inputs; y one array (a single
    output) or Arrays named after the outputs. Each output has its loss term (netspec.losses.loss_terms)."""

    def __init__(self, graph, ops, state_np: dict, frozen: bool = False):
        """frozen: for inference only (predict, eval): the parameters never change, so binary layers binarise
        (and, reading +-1 inputs, bit-pack) their weights once."""
        self.graph, self.ops = graph, ops
        self.state = {key: ops.from_numpy(np.asarray(value)) for key, value in state_np.items()}
        self.executor = Executor(graph, ops, self.state, frozen=frozen)
        self.input_name = graph.inputs[0]
        self.output_name = graph.outputs[0]
        self.int_inputs = {name: graph[name].dtype.startswith("int") for name in graph.inputs}
        self.terms = [{**term, "activation": output_activation(graph, term["output"])} for term in loss_terms(graph)]
        self.loss = self.terms[0]["type"]
        self.output_activation = self.terms[0]["activation"]

    def state_numpy(self) -> dict:
        return {key: self.ops.to_numpy(value) for key, value in self.state.items()}

    def feed(self, x) -> dict:
        arrays = x.arrays if hasattr(x, "arrays") else {self.input_name: x}
        return {name: self.ops.from_numpy(np.asarray(arrays[name], dtype=np.int64 if is_int else self.ops.dtype))
                for name, is_int in self.int_inputs.items()}

    def forward_all(self, x, train: bool = False) -> dict:
        return self.executor.forward(self.feed(x), train)

    def forward(self, x, train: bool = False):
        return self.forward_all(x, train)[self.output_name]

    def losses(self, outs: dict, y, backward: bool = False):
        """(weighted total loss, {output: its loss}, {output: scored labels}[, grads of the outputs])."""
        return score_batch(self.ops, self.terms, outs, y, backward)

    def train_step(self, x, y):
        """Forward + loss + backward: (loss, outputs by name, scored labels by name, gradients by checkpoint key)."""
        outs = self.forward_all(x, train=True)
        loss, _each, labels, grad_outs = self.losses(outs, y, backward=True)
        return loss, outs, labels, self.executor.backward(grad_outs)

    def accuracy(self, outs: dict, labels: dict) -> float | None:
        """Accuracy of the first class output (per token for sequences, padding excluded); None without one."""
        for term in self.terms:
            if term["type"] == "cross_entropy":
                correct, counted = token_hits(self.ops.to_numpy(outs[term["output"]]), labels[term["output"]])
                return correct / max(counted, 1)
        return None

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        parts = [self.ops.to_numpy(self.forward(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,))

    def evaluate(self, x, y, batch_size: int = 256) -> dict:
        """Mean loss (and accuracy for class targets) over a dataset, in eval mode; per output when several."""
        if len(x) == 0:
            return {}
        total, seen = 0.0, 0
        sums = {term["output"]: [0.0, 0, 0] for term in self.terms}      # loss sum, correct, counted
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            outs = self.forward_all(xb)
            loss, each, labels = self.losses(outs, yb)
            total, seen = total + loss * len(xb), seen + len(xb)
            for term in self.terms:
                name = term["output"]
                sums[name][0] += each[name] * len(xb)
                if term["type"] == "cross_entropy":
                    correct, counted = token_hits(self.ops.to_numpy(outs[name]), labels[name])
                    sums[name][1] += correct
                    sums[name][2] += counted
        return summarize(total / seen, {name: (loss_sum / seen, correct / counted if counted else None)
                                        for name, (loss_sum, correct, counted) in sums.items()})

