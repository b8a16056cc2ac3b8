"""A graph with its parameters on one backend: batching, losses, evaluation and prediction."""
from __future__ import annotations

import numpy as np

from netspec.errors import UserError

from .executor import Executor


def loss_kind(graph) -> str:
    from netspec.config import read_train
    return read_train(graph.train).loss


def output_activation(graph) -> str | None:
    """'softmax' or 'sigmoid' when the (first) output ends with one, so the loss takes probabilities."""
    node = graph[graph.outputs[0]]
    if node.op in ("softmax", "sigmoid"):
        return node.op
    return node.activation if node.activation in ("softmax", "sigmoid") else None


def require_one_input(graph) -> None:
    """Training, evaluation and prediction feed one input array: say so (before any data is read) otherwise."""
    if len(graph.inputs) != 1:
        raise UserError(f"spec '{graph.name}' has {len(graph.inputs)} inputs ({', '.join(graph.inputs)}); "
                        "training, evaluation and prediction here feed one input",
                        "netspec verify runs it on random inputs; to train it, netspec compile --target torch "
                        "writes its build_model() for a data loop of your own")


class Model:
    """Parameters (backend Arrays keyed by PyTorch names) plus an Executor over the graph."""

    def __init__(self, graph, ops, state_np: dict, frozen: bool = False):
        """frozen: for inference only (predict, eval): the parameters never change, so binary layers binarise
        (and, reading +-1 inputs, bit-pack) their weights once."""
        require_one_input(graph)
        self.graph, self.ops = graph, ops
        self.state = {key: ops.from_numpy(np.asarray(value)) for key, value in state_np.items()}
        self.executor = Executor(graph, ops, self.state, frozen=frozen)
        self.input_name = graph.inputs[0]
        self.output_name = graph.outputs[0]
        self.input_int = graph[self.input_name].dtype.startswith("int")
        self.loss = loss_kind(graph)
        self.output_activation = output_activation(graph)

    def state_numpy(self) -> dict:
        return {key: self.ops.to_numpy(value) for key, value in self.state.items()}

    def feed(self, x: np.ndarray):
        return self.ops.from_numpy(np.asarray(x, dtype=np.int64 if self.input_int else self.ops.dtype))

    def forward(self, x: np.ndarray, train: bool = False):
        return self.executor.forward({self.input_name: self.feed(x)}, train)[self.output_name]

    def target(self, y: np.ndarray):
        if self.loss == "cross_entropy":
            return self.ops.from_numpy(np.asarray(y, dtype=np.int64))
        return self.ops.from_numpy(np.asarray(y, dtype=self.ops.dtype))

    def train_step(self, x: np.ndarray, y: np.ndarray):
        """Forward + loss + backward: (loss, output Array, gradients by checkpoint key)."""
        out = self.forward(x, train=True)
        ctx: dict = {}
        loss = self.ops.loss_forward(self.loss, ctx, out, self.target(y), self.output_activation)
        grads = self.executor.backward({self.output_name: self.ops.loss_backward(ctx)})
        return loss, out, grads

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        parts = [self.ops.to_numpy(self.forward(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,))

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> dict:
        """Mean loss (and accuracy for class targets) over a dataset, in eval mode."""
        if len(x) == 0:
            return {}
        total, correct, count, seen = 0.0, 0, 0, 0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            out = self.forward(xb)
            ctx: dict = {}
            total += self.ops.loss_forward(self.loss, ctx, out, self.target(yb), self.output_activation) * len(xb)
            seen += len(xb)
            if self.loss == "cross_entropy":
                pred = self.ops.to_numpy(out).argmax(axis=-1)
                correct += int((pred == yb).sum())
                count += yb.size
        result = {"test_loss": total / seen}
        if count:
            result["test_accuracy"] = correct / count
        return result
