"""The compiler: IR graph, shape inference, analysis passes, diagram writer, lowering entry points."""
from __future__ import annotations

from netspec.errors import Collector

from .build import build
from .infer import infer
from .ir import BlockScope, Graph, Node, TensorSpec


def compile_spec(spec) -> Graph:
    """Build and shape-check a loaded Spec; raise SpecError listing every fault."""
    errors = Collector()
    graph, broken = build(spec, errors)
    infer(graph, errors, broken)
    errors.raise_if_any()
    return graph


__all__ = ["BlockScope", "Graph", "Node", "TensorSpec", "build", "compile_spec", "infer"]
