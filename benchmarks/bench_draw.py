"""Benchmark `netspec draw` on the large library nets against a peer measured in the same run.

Peer: a Keras `plot_model`-style drawing of the same IR graph, one record node per layer
(`name: type | input: shape | output: shape`), flat (no clusters, no edge labels, no legend),
built with the same `graphviz` package and rendered by the same `dot` binary. Both write SVG.
Also timed: the whole `netspec draw` command in a fresh interpreter, and the built-in layout.

    python benchmarks/bench_draw.py            # prints a Markdown table
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from compiler.diagram import build_view, render, to_dot
from compiler.layout import layout_svg
from netspec import load_graph
from netspec.errors import fmt_shape

SPECS = ["resnet50", "googlenet", "resnet18"]
REPEATS = 3


def peer_dot(graph) -> str:
    """A flat record-per-layer DOT, as Keras plot_model(show_shapes=True) draws."""
    import graphviz
    dot = graphviz.Digraph("peer", node_attr={"shape": "record", "fontname": "Helvetica"})
    for node in graph:
        ins = ", ".join(fmt_shape(s) for s in node.in_shapes) or "-"
        label = f"{node.name}: {node.op}|{{input:|output:}}|{{{ins}|{fmt_shape(node.shape)}}}"
        dot.node(node.name, label=label.replace("<", "").replace(">", ""))
    for node in graph:
        for src in node.inputs:
            dot.edge(src, node.name)
    return dot.source


def ours(spec: str) -> None:
    render(to_dot(build_view(load_graph(spec))), "svg")


def peer(spec: str) -> None:
    render(peer_dot(load_graph(spec)), "svg")


def fallback(spec: str) -> None:
    layout_svg(build_view(load_graph(spec)))


def command(spec: str, out: str) -> None:
    subprocess.run([sys.executable, "-m", "netspec", "draw", spec, "-o", out], cwd=ROOT, check=True,
                   capture_output=True)


def best(fn, *args) -> float:
    """Median wall time of a few runs."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    rows = []
    for name in SPECS:
        spec = os.path.join(ROOT, "specs", f"{name}.yaml")
        if not os.path.exists(spec):
            print(f"skip {name}: {spec} not found", file=sys.stderr)
            continue
        graph = load_graph(spec)
        t_ours, t_peer, t_fallback = best(ours, spec), best(peer, spec), best(fallback, spec)
        with tempfile.TemporaryDirectory() as tmp:
            t_cli = best(command, spec, os.path.join(tmp, "net.svg"))
        rows.append((name, len(graph.nodes), t_ours, t_peer, t_ours / t_peer, t_cli, t_fallback))
    print("| net | IR nodes | netspec draw → SVG (in-process) | peer: flat plot_model-style DOT → SVG | "
          "ratio | whole `netspec draw` command | built-in layout (no dot) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, nodes, t_ours, t_peer, ratio, t_cli, t_fallback in rows:
        print(f"| {name} | {nodes} | {t_ours:.2f} s | {t_peer:.2f} s | {ratio:.2f}x | {t_cli:.2f} s "
              f"| {t_fallback:.3f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
