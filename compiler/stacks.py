"""The RBM stack of a graph, as pretraining walks it: the rbm nodes bottom-up, each fed by the one below.

`netspec check` asks the same question as the trainers, so that a spec it accepts does not stop at `train`.
"""
from __future__ import annotations

PASS_THROUGH = ("flatten", "reshape", "identity", "dropout")


class StackError(ValueError):
    """The graph's rbm layers do not form a stack: the node at fault, the reason and the fix."""

    def __init__(self, node, message: str, hint: str | None = None):
        super().__init__(message)
        self.node, self.hint = node, hint


def rbm_chain(graph) -> list:
    """The graph's rbm nodes bottom-up; each feeds the next (shape-only layers may sit between)."""
    rbms = [n for n in graph.layers() if n.op == "rbm"]
    for index, node in enumerate(rbms):
        source = graph[node.inputs[0]]
        while source.op in PASS_THROUGH:
            source = graph[source.inputs[0]]
        expected = "input" if index == 0 else rbms[index - 1].name
        if (source.op if index == 0 else source.name) != expected:
            where = "the input (through flatten/reshape only)" if index == 0 else f"rbm '{expected}'"
            raise StackError(node, f"pretraining needs an rbm stack, but its input comes from '{source.name}' "
                             f"({source.op}), not {where}", "stack rbm layers directly, or remove the 'pretrain:' "
                             "section")
    return rbms


def check_pretrain_stack(graph, method: str) -> None:
    """Raise StackError where `pretrain:` with `method` cannot train the graph's rbm layers."""
    rbms = rbm_chain(graph)
    if method == "dbm":
        for node in rbms:
            if node.attrs.get("hidden_units") != "bernoulli":
                raise StackError(node, "DBM training needs bernoulli hidden units on every rbm layer",
                                 "set hidden_units: bernoulli, or use method: cd for a DBN")
