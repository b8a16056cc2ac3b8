"""The public Python API: load a spec file into a shape-checked IR graph."""
from __future__ import annotations

from compiler.build import build
from compiler.infer import infer
from compiler.ir import Graph

from .config import check_sections
from .errors import Collector, Diagnostic, SpecError, collapse
from .gcpause import paused
from .spec import read


def analyse(path: str, overrides: dict | None = None) -> tuple[Graph | None, list[Diagnostic]]:
    """Load, expand, build and shape-check a spec; return the graph (None on faults) and every fault."""
    with paused():
        try:
            spec = read(path, overrides)
        except SpecError as exc:
            return None, exc.diagnostics
        if not hasattr(spec, "layers"):          # a `networks:` spec: one graph per network
            from .networks import analyse_networks
            networks, diagnostics = analyse_networks(spec)
            diagnostics = sorted(collapse(diagnostics), key=_position_key)
            return (None if diagnostics else networks), diagnostics
        errors = Collector(list(spec.diagnostics))
        graph, broken = build(spec, errors)
        infer(graph, errors, broken)
        check_sections(graph, errors)
    diagnostics = sorted(collapse(errors.diagnostics), key=_position_key)
    return (None if diagnostics else graph), diagnostics


def load_graph(path: str, overrides: dict | None = None) -> Graph:
    """The shape-checked IR graph of a spec file; raise SpecError listing every fault."""
    graph, diagnostics = analyse(path, overrides)
    if diagnostics:
        raise SpecError(diagnostics)
    return graph


def _position_key(diagnostic: Diagnostic):
    pos = diagnostic.pos
    return (0, 0) if pos is None else (pos.line, pos.col)
