"""What the workbench page shows of a spec: the diagram, the summary, per-node details and the faults.

`snapshot` turns a shape-checked graph into one JSON-ready dict; `Watcher` re-reads the spec file when its
bytes change and keeps the last good drawing, so a broken save shows its faults above the last diagram.
"""
from __future__ import annotations

import os
import threading
import time

from compiler import diagram
from compiler.analysis import summary_json

from ..api import analyse
from ..errors import fmt_shape

MISSING_GRACE_S = 0.5      # an editor's save may remove the file for a moment: not a fault before this
SETTLE_S, SETTLE_READS = 0.03, 5   # a save that writes in place (truncate, then write) is read when it is over


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def render_svg(view) -> str:
    """The same SVG as `netspec draw` (Graphviz, or the built-in layout without it)."""
    if diagram.have_dot():
        return diagram.render(diagram.to_dot(view), "svg").decode("utf-8")
    from compiler.layout import layout_svg
    return layout_svg(view)


def _plain(value):
    """An attribute value as JSON: tuples as lists, anything unusual as its text."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _line(pos) -> int | None:
    return pos.line if pos is not None and pos.line > 0 else None


def _layer(graph, node) -> dict:
    return {
        "name": node.name, "type": node.op, "written": node.type_as_written or node.op,
        "block": node.scope[-1].path + f" [{node.scope[-1].block}]" if node.scope else None,
        "attrs": {} if node.op == "input" else {k: _plain(v) for k, v in node.attrs.items()},
        "inputs": [[name, fmt_shape(graph[name].shape)] for name in node.inputs],
        "output": fmt_shape(node.shape), "dtype": node.dtype, "params": node.param_count, "flops": node.flops,
        "line": _line(node.pos),
    }


def _block(graph, vnode) -> dict:
    paths = vnode.tooltip.split(", ") if vnode.tooltip else [vnode.id]
    members = [n for n in graph if any(n.name.startswith(p + "/") for p in paths)]
    inside = {n.name for n in members}
    entering = [src for n in members for src in n.inputs if src not in inside]
    first, last = (members[0], members[-1]) if members else (None, None)
    scope = next((s for s in first.scope if s.path == paths[0]), None) if first else None
    return {
        "name": vnode.title, "type": f"block {scope.block if scope else ''}".strip(), "block": None, "attrs": {},
        "inputs": [[name, fmt_shape(graph[name].shape)] for name in dict.fromkeys(entering)],
        "output": fmt_shape(last.shape) if last else "?", "dtype": last.dtype if last else "",
        "params": sum(n.param_count for n in members), "flops": sum(n.flops for n in members),
        "layers": len(members), "line": _line(scope.pos) if scope else None,
    }


def node_details(graph, view) -> dict:
    """Hover details of every drawn node, by the node's id in the drawing (the SVG node's <title>)."""
    out = {}
    for vid, vnode in view.nodes.items():
        if vid in graph.nodes:
            out[vid] = _layer(graph, graph[vid])
        elif vnode.kind == "block":
            out[vid] = _block(graph, vnode)
        elif vnode.kind == "output":
            name = vid.removesuffix(" (output)")
            out[vid] = {**_layer(graph, graph[name]), "name": vnode.title, "type": "output", "attrs": {},
                        "params": 0, "flops": 0, "inputs": [[name, fmt_shape(graph[name].shape)]]}
        elif vnode.kind in ("step", "units"):          # an unrolled step, or an RBM's visible units
            name = vid.rsplit(" (", 1)[0]
            if name in graph.nodes:
                out[vid] = {**_layer(graph, graph[name]), "name": vnode.title}
    return out


def _summary(graph) -> dict:
    data = summary_json(graph)
    rows, seen = [], set()
    for node in graph:
        for depth, scope in enumerate(node.scope):       # a header row where a block instance starts
            if scope.path not in seen:
                seen.add(scope.path)
                rows.append({"name": scope.path.rsplit("/", 1)[-1], "path": scope.path, "depth": depth,
                             "type": f"[{scope.block}]", "shape": "", "params": None, "flops": None,
                             "line": _line(scope.pos), "block": True})
        rows.append({"name": node.name.rsplit("/", 1)[-1], "path": node.name, "depth": len(node.scope),
                     "type": node.op + (f" +{node.activation}" if node.activation else ""),
                     "shape": fmt_shape(node.shape), "params": node.param_count, "flops": node.flops,
                     "line": _line(node.pos)})
    return {"rows": rows, "total_params": data["total_params"], "total_flops": data["total_flops"],
            "outputs": data["outputs"]}


def snapshot(graph, view) -> dict:
    """The page's view of a sound graph drawn as `view`: title, SVG, node details, summary, the text drawn."""
    return {"title": graph.name, "svg": render_svg(view), "nodes": node_details(graph, view),
            "summary": _summary(graph), "drawn_source": graph.source_text}


def _fault(diagnostic) -> dict:
    pos = diagnostic.pos
    return {"text": str(diagnostic), "line": _line(pos), "col": pos.col if pos is not None else None}


def page_state(version: int, path: str, faults: list, source: str, good: dict | None) -> dict:
    """Everything the page shows: the faults of the spec as it is now over the last good drawing (if any)."""
    good = good or {"title": "", "svg": "", "nodes": {}, "summary": None, "drawn_source": ""}
    return {"version": version, "path": path, "ok": not faults, "errors": faults, "stale": bool(faults),
            "source": source, **good}


class Watcher:
    """The state of one spec file for the live page: re-checked and redrawn when its bytes change."""

    def __init__(self, path: str, overrides: dict | None, options: diagram.DrawOptions):
        self.path, self.overrides, self.options = path, overrides, options
        self.lock = threading.Lock()
        self.version = 0
        self.seen: bytes | None = None       # the bytes the current state was made from
        self.good: dict | None = None        # the last good snapshot
        self.state: dict = {}
        self.missing_since: float | None = None

    def current(self) -> dict:
        """The state, rebuilt first when the file changed since the last call."""
        with self.lock:
            try:
                data = self._settled()
                self.missing_since = None
            except OSError as exc:
                now = time.monotonic()
                self.missing_since = self.missing_since or now
                if self.state and now - self.missing_since < MISSING_GRACE_S:
                    return self.state
                message = f"{self.path}: cannot read the spec: {exc.strerror or exc}"
                data = message.encode()
                if data != self.seen:
                    self._publish(data, [{"text": message, "line": None, "col": None}], "")
                return self.state
            if data != self.seen:
                self._rebuild(data)
            return self.state

    def _settled(self) -> bytes:
        """The file's bytes once a save is over: a changed file is read again until two reads agree."""
        data = _read(self.path)
        for _ in range(SETTLE_READS):
            if data == self.seen:
                break
            time.sleep(SETTLE_S)
            again = _read(self.path)
            if again == data:
                break
            data = again
        return data

    def _rebuild(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        try:
            graph, diagnostics = analyse(self.path, self.overrides)
            faults = [_fault(d) for d in diagnostics]
            if graph is not None:
                self.good = snapshot(graph, diagram.build_view(graph, self.options))
        except Exception as exc:  # the page reports any failure and keeps serving; NETSPEC_DEBUG=1 raises it
            if os.environ.get("NETSPEC_DEBUG"):
                raise
            faults = [{"text": f"{self.path}: {type(exc).__name__}: {exc}", "line": None, "col": None}]
        self._publish(data, faults, text)

    def _publish(self, data: bytes, faults: list, text: str) -> None:
        self.seen = data
        self.version += 1
        self.state = page_state(self.version, self.path, faults, text, self.good)
