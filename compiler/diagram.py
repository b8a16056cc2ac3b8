"""Architecture diagrams: the IR graph as a drawing (a `View`), written as Graphviz DOT and rendered by `dot`.

`build_view` turns a shape-checked Graph into a renderer-neutral View: labelled nodes coloured by layer
family, edges labelled with the tensor shapes they carry, block instances as nested clusters (or folded
into single nodes, runs of identical instances into one `x N` node), merges as small symbols, RBM stacks
as layers of units joined by undirected / generative edges, recurrent state as self-loops (or unrolled
steps). `to_dot` writes the View with the `graphviz` package; `render` runs the `dot` binary.
`compiler.layout` draws the same View as SVG without Graphviz.
Every step walks the graph in its topological order, so the same spec always gives the same bytes.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from netspec.errors import UserError, fmt_shape

from .registry import FAMILIES, lookup

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = ("install Graphviz: 'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' "
                "(macOS) or see https://graphviz.org/download/; or write .svg or .dot instead")

# fill colours by layer family (soft, print-friendly), plus the drawing-only kinds
COLOURS = {
    "input": "#e6e6e6", "output": "#e6e6e6", "convolution": "#cfe2f3", "pooling": "#d9ead3",
    "dense": "#fce5cd", "normalisation": "#fff2cc", "activation": "#f4cccc", "regularisation": "#efefef",
    "shape": "#f6f6f6", "merge": "#d9d2e9", "attention": "#c9daf8", "recurrent": "#d0e0e3", "embedding": "#ead1dc",
    "energy": "#f9cb9c", "block": "#ffffff",
}
FAMILY_LABELS = {"energy": "energy-based", "block": "folded block"}
EDGE_LEGEND = {
    "shortcut": "residual shortcut", "undirected": "undirected (RBM weights)",
    "generative": "directed (generative)", "state": "recurrent state", "tied": "tied weights (transposed)",
}
RECURRENT_STATE = {"lstm": "h, c", "gru": "h", "rnn": "h"}


@dataclass
class DrawOptions:
    """What to draw: orientation, how far to expand blocks, folding of runs, unrolled steps."""

    rankdir: str = "TB"
    depth: int | None = None       # expand blocks nested up to this depth; None: all
    collapse: bool = False         # fold every block instance (depth 0 unless given) and runs into `x N`
    unroll: int = 0                # draw recurrent layers as this many time steps (0: a self-loop)
    legend: bool = True

    @property
    def fold_depth(self) -> int | None:
        if self.depth is not None:
            return self.depth
        return 0 if self.collapse else None


@dataclass
class VNode:
    """A drawn node. `id` is the full layer name where the node stands for one layer."""

    id: str
    title: str                     # bold first line
    lines: list = field(default_factory=list)
    family: str = "shape"
    kind: str = "layer"            # layer | input | output | merge | block | units | step
    cluster: str | None = None     # innermost cluster key
    symbol: str = ""               # merges: the op symbol
    tooltip: str = ""


@dataclass
class VEdge:
    src: str
    dst: str
    label: str = ""
    style: str = "flow"            # flow | shortcut | undirected | generative | state


@dataclass
class VCluster:
    key: str
    label: str
    parent: str | None
    row: bool = False              # unrolled steps: lay the members side by side


@dataclass
class View:
    title: str
    subtitle: str
    rankdir: str
    nodes: dict = field(default_factory=dict)        # id -> VNode, drawing order
    edges: list = field(default_factory=list)
    clusters: dict = field(default_factory=dict)     # key -> VCluster, parents first
    legend: list = field(default_factory=list)       # [(family, label)]
    edge_legend: list = field(default_factory=list)  # [(style, label)]

    def add(self, node: VNode) -> VNode:
        self.nodes[node.id] = node
        return node


# ---------------------------------------------------------------------------------------- labels
def fmt_count(n: int) -> str:
    """A compact count: 156, 36.9K, 25.6M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n)


def describe(node) -> str:
    """The type and its key attributes, compactly (`conv2d 5x5 /2, 96`): the layer type's schema label."""
    return lookup(node.op).label(node)


def _layer_lines(node) -> list:
    """Type line (left out when the name already says it, e.g. `relu_3`), activation, params."""
    lines = [describe(node)]
    local = node.name.rsplit("/", 1)[-1]
    if lines[0] == node.op and re.fullmatch(re.escape(node.op) + r"_\d+", local) and not node.activation:
        lines = []
    if node.activation:
        lines[0] += f" + {node.activation}"
    if node.param_count:
        lines.append(f"{fmt_count(node.param_count)} params")
    return lines


def _vnode(node, nid: str, cluster: str | None) -> VNode:
    """The drawn node of one IR node (an input, a merge symbol or a layer box)."""
    local = node.name.rsplit("/", 1)[-1]
    if node.op == "input":
        lines = [fmt_shape(node.shape) + ("" if node.dtype == "float32" else f" ({node.dtype})")]
        return VNode(nid, local, lines, "input", "input", cluster)
    family = lookup(node.op).family
    if family == "merge":
        label = describe(node)
        return VNode(nid, local, [label], "merge", "merge", cluster, label, f"{nid}: {label}")
    return VNode(nid, local, _layer_lines(node), family, "layer", cluster)


# ---------------------------------------------------------------------------------------- view
class _Builder:
    def __init__(self, graph, options: DrawOptions):
        self.g = graph
        self.o = options
        self.view = View(title=f"{graph.name}", subtitle=graph.description or "", rankdir=options.rankdir)
        self.owner: dict[str, str] = {}          # layer name -> drawn node id
        self.folded: dict[str, list] = {}        # folded block path -> member nodes
        self.consumers = graph.consumers()
        self.step_of: dict[str, str] = {}        # unrolled step node id -> its time-step label

    # which drawn node stands for each layer --------------------------------------------------
    def _fold_scope(self, node):
        depth = self.o.fold_depth
        return node.scope[depth] if depth is not None and len(node.scope) > depth else None

    def assign_owners(self) -> None:
        for node in self.g:
            scope = self._fold_scope(node)
            if scope is None:
                self.owner[node.name] = node.name
            else:
                self.owner[node.name] = scope.path
                self.folded.setdefault(scope.path, []).append(node)

    def cluster_of(self, scope: tuple) -> str | None:
        """The innermost drawn cluster for a scope chain, creating clusters on the way."""
        depth = self.o.fold_depth
        visible = scope if depth is None else scope[:depth]
        parent = None
        for item in visible:
            if item.path not in self.view.clusters:
                name = item.path.rsplit("/", 1)[-1]
                self.view.clusters[item.path] = VCluster(item.path, f"{name} [{item.block}]", parent)
            parent = item.path
        return parent

    # nodes -----------------------------------------------------------------------------------
    def add_nodes(self) -> None:
        runs = self.find_runs() if self.o.collapse else {}
        for node in self.g:
            owner = self.owner[node.name]
            if owner != node.name:
                if owner in self.view.nodes or owner in runs.get("skip", ()):
                    continue
                self.add_block(owner, runs.get(owner, [owner]))
                continue
            self.view.add(_vnode(node, node.name, self.cluster_of(node.scope)))
        for name in self.g.outputs:
            node = self.g[name]
            oid = f"{name} (output)"
            title = "output" if len(self.g.outputs) == 1 else f"output {name}"
            self.view.add(VNode(oid, title, [fmt_shape(node.shape)], "output", "output"))

    def add_block(self, path: str, run: list) -> None:
        members = [n for p in run for n in self.folded[p]]
        first = self.folded[run[0]][0]
        scope = next(s for s in first.scope if s.path == run[0])
        local = run[0].rsplit("/", 1)[-1]
        params = sum(n.param_count for n in members)
        if len(run) > 1:
            title = f"{local} .. {run[-1].rsplit('/', 1)[-1]}"
            lines = [f"[{scope.block}] x {len(run)}", f"{fmt_count(params)} params, {len(members)} layers"]
        else:
            title = local
            lines = [f"[{scope.block}]", f"{fmt_count(params)} params, {len(members)} layers"]
        parent_scope = first.scope[:first.scope.index(scope)]
        node = VNode(path, title, lines, "block", "block", self.cluster_of(parent_scope),
                     tooltip=", ".join(run))
        self.view.add(node)
        for p in run:
            for member in self.folded[p]:
                self.owner[member.name] = path

    def find_runs(self) -> dict:
        """Consecutive identical folded instances: first path -> [paths]; 'skip' -> the others."""
        order = list(self.folded)
        runs, skip = {}, set()
        i = 0
        while i < len(order):
            run = [order[i]]
            while i + len(run) < len(order) and self._continues(run[-1], order[i + len(run)]):
                run.append(order[i + len(run)])
            runs[run[0]] = run
            skip.update(run[1:])
            i += len(run)
        runs["skip"] = skip
        return runs

    def _signature(self, path: str):
        members = self.folded[path]
        scope = next(s for s in members[0].scope if s.path == path)
        prefix = path + "/"
        outside = sorted({src for n in members for src in n.inputs if not src.startswith(prefix)})
        shapes_in = tuple(str(self.g[s].shape) for s in outside)
        body = tuple((n.name[len(prefix):], n.op, tuple(sorted((k, str(v)) for k, v in n.attrs.items())),
                      str(n.shape), n.param_count) for n in members)
        parent = members[0].scope[:members[0].scope.index(scope)]
        return scope.block, parent, shapes_in, body, outside

    def _continues(self, prev: str, nxt: str) -> bool:
        a, b = self._signature(prev), self._signature(nxt)
        if a[:4] != b[:4]:
            return False
        # the next instance reads only the previous one's output, and nothing else reads that output
        prev_prefix = prev + "/"
        if not all(src.startswith(prev_prefix) for src in b[4]):
            return False
        leaving = {c for n in self.folded[prev] for c in self.consumers[n.name] if not c.startswith(prev_prefix)}
        return all(c.startswith(nxt + "/") for c in leaving)

    # edges -----------------------------------------------------------------------------------
    def add_edges(self) -> None:
        seen, shortcuts = set(), self.shortcut_edges()
        for node in self.g:
            dst = self.owner[node.name]
            for src_name in node.inputs:
                src = self.owner[src_name]
                if src == dst:
                    continue
                key = (src, dst)
                if key in seen:
                    continue
                seen.add(key)
                style = "shortcut" if (src_name, node.name) in shortcuts else "flow"
                self.view.edges.append(VEdge(src, dst, fmt_shape(self.g[src_name].shape), style))
        for name in self.g.outputs:
            self.view.edges.append(VEdge(self.owner[name], f"{name} (output)", fmt_shape(self.g[name].shape)))

    def shortcut_edges(self) -> set:
        """IR edges (src, dst) on the shorter branch into an add/mul when both branches leave one fork:
        the identity or projection shortcut of a residual block."""
        out = set()
        for node in self.g:
            if node.op not in ("add", "mul") or len(node.inputs) < 2:
                continue
            branches = []
            for src in node.inputs:
                chain, x = [], self.g[src]
                while (len(x.inputs) == 1 and len(self.consumers[x.name]) == 1
                       and lookup(x.op).family != "merge"):
                    chain.append(x.name)
                    x = self.g[x.inputs[0]]
                branches.append((len(chain), x.name, [x.name, *reversed(chain), node.name]))
            forks = {fork for _, fork, _ in branches}
            lengths = sorted(length for length, _, _ in branches)
            if len(forks) == 1 and lengths[0] < lengths[1]:
                path = min(branches)[2]
                out.update(itertools.pairwise(path))
        return out

    # energy models -----------------------------------------------------------------------------
    def energy_models(self) -> None:
        """RBM chains as layers of units: visible, hidden, hidden ... joined by weight edges."""
        method = None
        if self.g.pretrain:
            from netspec.config import read_pretrain
            method = read_pretrain(self.g.pretrain).method
        chains, current = [], []
        for node in self.g:
            if node.op != "rbm" or self.owner[node.name] != node.name:
                continue
            if current and node.inputs == [current[-1].name] and len(self.consumers[current[-1].name]) == 1:
                current.append(node)
            else:
                current = [node]
                chains.append(current)
        for chain in chains:
            self._energy_chain(chain, method)
        for node in self.g:                      # decoders that borrow an rbm's weight, transposed
            if node.op == "tied" and self.owner[node.name] == node.name:
                scope = node.name.rsplit("/", 1)[0] + "/" if "/" in node.name else ""
                target = scope + node.attrs["of"] if scope + node.attrs["of"] in self.g.nodes else node.attrs["of"]
                if target in self.view.nodes:
                    self.view.edges.append(VEdge(target, node.name, "", "tied"))

    def _energy_chain(self, chain: list, method: str | None) -> None:
        edges_by_key = {(e.src, e.dst): e for e in self.view.edges}
        first = chain[0]
        visible_id = f"{first.name} (visible)"
        old = self.view.nodes[first.name]
        vis_units = first.attrs.get("visible_units", "bernoulli")
        visible = VNode(visible_id, "visible", [f"{fmt_shape(first.in_shapes[0])} units ({vis_units})"],
                        "energy", "units", old.cluster)
        # insert the visible layer just before the first rbm to keep the drawing order
        items = list(self.view.nodes.items())
        at = [k for k, _ in items].index(first.name)
        self.view.nodes = dict(items[:at] + [(visible_id, visible)] + items[at:])
        src = self.owner[first.inputs[0]]
        edge = edges_by_key.get((src, first.name))
        if edge is not None:
            edge.dst = visible_id
        lower = visible_id
        for i, rbm in enumerate(chain):
            a = rbm.attrs
            node = self.view.nodes[rbm.name]
            node.kind, node.family = "units", "energy"
            node.lines = [f"hidden {a['hidden']} units ({a['hidden_units']})",
                          f"rbm {a['hidden']}x{rbm.in_shapes[0][0]}, {fmt_count(rbm.param_count)} params"]
            top = i == len(chain) - 1
            style = "undirected" if method in ("dbm", "autoencoder") or top else "generative"
            weights = f"W {a['hidden']}x{rbm.in_shapes[0][0]}"
            if i > 0:
                edge = edges_by_key.get((chain[i - 1].name, rbm.name))
                edge.label, edge.style = weights, style
            else:
                self.view.edges.append(VEdge(lower, rbm.name, weights, style))
            lower = rbm.name
        kind = {"dbm": "deep Boltzmann machine", "autoencoder": "RBM stack (autoencoder pretraining)"}.get(
            method, "deep belief net" if len(chain) > 1 else "restricted Boltzmann machine")
        self.view.subtitle = (self.view.subtitle + "; " if self.view.subtitle else "") + kind

    # recurrent state ---------------------------------------------------------------------------
    def recurrent(self) -> None:
        for node in self.g:
            if node.op == "cell" and self.owner[node.name] == node.name:
                self.cell(node)
            if node.op not in RECURRENT_STATE or self.owner[node.name] != node.name:
                continue
            a = node.attrs
            width = a["hidden"] * (2 if a["bidirectional"] else 1)
            state = f"{RECURRENT_STATE[node.op]} {width}" + (f" x{a['layers']}" if a["layers"] > 1 else "")
            if self.o.unroll > 0:
                self._unroll(node, state)
            else:
                self.view.edges.append(VEdge(node.name, node.name, state, "state"))

    def cell(self, node) -> None:
        """A cell layer: a cluster holding its step graph, each update fed back to its state by a dashed edge
        (folded by --collapse / --depth into one node with a self-loop; --unroll draws its time steps)."""
        step = node.attrs["step"]
        state = ", ".join(f"{s} {fmt_shape(step[s].shape)}" for s in node.attrs["states"])
        depth = self.o.fold_depth
        if self.o.unroll > 0:
            self._unroll(node, state)
        elif depth is not None and depth <= len(node.scope):
            self.view.edges.append(VEdge(node.name, node.name, state, "state"))
        else:
            self._cell_cluster(node, step)

    def _cell_cluster(self, node, step) -> None:
        old = self.view.nodes.pop(node.name)
        key = node.name
        shared = f", {fmt_count(node.param_count)} params" if node.param_count else ""
        self.view.clusters[key] = VCluster(key, f"{old.title}: {describe(node)}, one time step{shared}", old.cluster)
        ids = {n.name: f"{node.name}/{n.name}" for n in step}
        for inner in step:
            drawn = self.view.add(_vnode(inner, ids[inner.name], key))
            if inner.name in node.attrs["states"]:
                drawn.family, drawn.lines = "recurrent", [drawn.lines[0] + ", state at t-1"]
        edges = [VEdge(ids[src], ids[inner.name], fmt_shape(step[src].shape))
                 for inner in step for src in inner.inputs]
        for name, target in zip(node.attrs["states"], step.outputs[1:]):
            edges.append(VEdge(ids[target], ids[name], name, "state"))
        seeds = {self.owner[s]: name for s, name in zip(node.inputs[1:], node.attrs["initial"])
                 if self.owner[s] != self.owner[node.inputs[0]]}
        for e in self.view.edges:
            if e.dst == node.name:
                e.dst = ids[seeds[e.src]] if e.src in seeds else ids[step.inputs[0]]
            if e.src == node.name:
                e.src = ids[step.outputs[0]]
        self.view.edges.extend(edges)

    def _unroll(self, node, state: str) -> None:
        steps_total = node.in_shapes[0][0]
        count = self.o.unroll
        if isinstance(steps_total, int):
            count = min(count, steps_total)
        labels = [str(t + 1) for t in range(count)]
        if not isinstance(steps_total, int) or steps_total > count:
            labels[-1] = str(steps_total)
        old = self.view.nodes.pop(node.name)
        key = f"{node.name} (unrolled)"
        shared = f", {fmt_count(node.param_count)} params shared by every step" if node.param_count else ""
        self.view.clusters[key] = VCluster(key, f"{old.title} unrolled over time{shared}", old.cluster, row=True)
        ids = []
        for t in labels:
            sid = f"{node.name} (t={t})"
            self.view.add(VNode(sid, f"{old.title} t={t}", old.lines[:1], old.family, "step", key))
            self.step_of[sid] = t
            ids.append(sid)
        step_in = fmt_shape(node.in_shapes[0][1:])
        step_out = fmt_shape(node.shape[1:] if node.attrs["return_sequences"] else node.shape)
        seeds = {self.owner[s] for s in node.inputs[1:]} - {self.owner[node.inputs[0]]}
        edges = []
        for e in self.view.edges:
            if e.dst == node.name and e.src in seeds:           # initial_state seeds the first step
                edges.append(VEdge(e.src, ids[0], e.label, e.style))
            elif e.dst == node.name and e.src in self.step_of:       # step t of an unrolled layer below
                t = self.step_of[e.src]
                edges.extend(VEdge(e.src, sid, step_in, e.style) for sid, lab in zip(ids, labels) if lab == t)
            elif e.dst == node.name:
                edges.extend(VEdge(e.src, sid, step_in, e.style) for sid in ids)
            elif e.src == node.name:
                sources = ids if node.attrs["return_sequences"] else ids[-1:]
                edges.extend(VEdge(sid, e.dst, step_out, e.style) for sid in sources)
            else:
                edges.append(e)
        gap = " ..." if labels[-1] != str(len(labels)) else ""
        for i in range(len(ids) - 1):
            label = state + (gap if i == len(ids) - 2 else "")
            edges.append(VEdge(ids[i], ids[i + 1], label, "state"))
        self.view.edges = edges

    # legend and title --------------------------------------------------------------------------
    def finish(self) -> View:
        used = {n.family for n in self.view.nodes.values()}
        order = ["input", *[f for f in FAMILIES if f != "input"], "block"]
        self.view.legend = [(f, FAMILY_LABELS.get(f, f)) for f in order if f in used and f in COLOURS]
        styles = {e.style for e in self.view.edges}
        self.view.edge_legend = [(s, label) for s, label in EDGE_LEGEND.items() if s in styles]
        if not self.o.legend:
            self.view.legend, self.view.edge_legend = [], []
        self.view.title = f"{self.g.name}  \u00b7  {self.g.total_params:,} params"
        return self.view

    def build(self) -> View:
        self.assign_owners()
        self.add_nodes()
        self.add_edges()
        self.energy_models()
        self.recurrent()
        return self.finish()


def build_view(graph, options: DrawOptions | None = None) -> View:
    """The drawing of a graph, independent of the renderer."""
    return _Builder(graph, options or DrawOptions()).build()


# ---------------------------------------------------------------------------------------- DOT
FONT = "Helvetica"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _node_label(node: VNode) -> str:
    rows = [f"<TR><TD><B>{_html(node.title)}</B></TD></TR>"]
    for i, line in enumerate(node.lines):
        size, colour = (10, "#222222") if i == 0 else (9, "#555555")
        rows.append(f'<TR><TD><FONT POINT-SIZE="{size}" COLOR="{colour}">{_html(line)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


EDGE_STYLES = {
    "flow": {},
    "shortcut": {"color": "#6a51a3", "penwidth": "1.6", "fontcolor": "#6a51a3"},
    "undirected": {"dir": "none", "penwidth": "2.2", "color": "#b45f06"},
    "generative": {"dir": "back", "penwidth": "1.4", "color": "#b45f06"},
    "state": {"style": "dashed", "color": "#0b5394", "fontcolor": "#0b5394"},
    "tied": {"style": "dotted", "dir": "none", "color": "#b45f06", "constraint": "false", "fontcolor": "#b45f06"},
    "wiring": {"style": "dashed", "color": "#38761d", "penwidth": "1.4", "fontcolor": "#38761d"},   # several networks
}


def _node_attrs(node: VNode) -> dict:
    fill = COLOURS.get(node.family, "#ffffff")
    if node.kind == "merge":
        if len(node.symbol) > 1:          # concat: a small ellipse with the word
            return {"label": node.symbol, "shape": "ellipse", "height": "0.28", "margin": "0.02,0.01",
                    "fontsize": "10", "style": "filled", "fillcolor": fill, "tooltip": node.tooltip or node.id}
        return {"label": node.symbol, "shape": "circle", "width": "0.3", "fixedsize": "true", "fontsize": "14",
                "style": "filled", "fillcolor": fill, "tooltip": node.tooltip or node.id}
    attrs = {"label": _node_label(node), "fillcolor": fill, "tooltip": node.tooltip or node.id}
    if node.kind in ("input", "output"):
        attrs.update(shape="box", style="rounded,filled,bold")
    elif node.kind == "block":
        attrs.update(shape="box3d", style="filled", margin="0.14,0.1")
    elif node.kind == "units":
        attrs.update(shape="box", style="rounded,filled", penwidth="1.5")
    elif node.kind == "step":
        attrs.update(shape="box", style="rounded,filled")
    return attrs


def _legend_label(view: View) -> str:
    rows = ['<TR><TD COLSPAN="2"><B>legend</B></TD></TR>']
    for family, label in view.legend:
        rows.append(f'<TR><TD BGCOLOR="{COLOURS[family]}" BORDER="1" WIDTH="14"> </TD>'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{_html(label)}</FONT></TD></TR>')
    for style, label in view.edge_legend:
        colour = EDGE_STYLES[style].get("color", "#000000")
        mark = {"undirected": "\u2014", "generative": "\u2190", "state": "- -", "wiring": "- -",
                "tied": "\u00b7\u00b7\u00b7"}.get(
            style, "\u2192")
        rows.append(f'<TR><TD><FONT COLOR="{colour}"><B>{mark}</B></FONT></TD>'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{_html(label)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def to_dot(view: View) -> str:
    """The View as DOT source (deterministic: everything is emitted in drawing order)."""
    try:
        import graphviz
    except ImportError:
        raise UserError("drawing needs the 'graphviz' Python package", "pip install graphviz") from None

    title = f"<<B>{_html(view.title)}</B>" + (f'<BR/><FONT POINT-SIZE="10">{_html(view.subtitle)}</FONT>'
                                               if view.subtitle else "") + ">"
    dot = graphviz.Digraph("netspec", graph_attr={
        "rankdir": view.rankdir, "label": title, "labelloc": "t", "fontname": FONT, "fontsize": "16",
        "nodesep": "0.25", "ranksep": "0.3", "newrank": "true", "bgcolor": "white", "outputorder": "edgesfirst",
        "remincross": "true"},
        node_attr={"fontname": FONT, "fontsize": "11", "shape": "box", "style": "rounded,filled",
                   "margin": "0.08,0.03", "height": "0.3", "color": "#555555"},
        edge_attr={"fontname": FONT, "fontsize": "9", "fontcolor": "#444444", "color": "#666666",
                   "arrowsize": "0.7"})
    children: dict = {}
    for cluster in view.clusters.values():
        children.setdefault(cluster.parent, []).append(cluster.key)
    members: dict = {}
    for node in view.nodes.values():
        members.setdefault(node.cluster, []).append(node)

    def emit(graph, key, level):
        for node in members.get(key, []):
            graph.node(node.id, **_node_attrs(node))
        for child in children.get(key, []):
            cluster = view.clusters[child]
            with graph.subgraph(name=f"cluster_{child}") as sub:
                shade = "#f7f7fb" if level % 2 == 0 else "#eef0f6"
                sub.attr(label=cluster.label, style="rounded,filled", fillcolor=shade, color="#9a9ab0",
                         fontname=FONT, fontsize="10", labeljust="l", margin="6")
                if cluster.row:
                    sub.attr(rank="same")
                emit(sub, child, level + 1)

    emit(dot, None, 0)
    if view.legend and len(view.nodes) > 0:
        dot.node("legend", label=_legend_label(view), shape="plaintext", style="", margin="0")
    for edge in view.edges:
        attrs = dict(EDGE_STYLES[edge.style])
        if edge.label:
            attrs["label"] = " " + edge.label + " "
        if edge.style == "shortcut":
            attrs["weight"] = "0"
        dot.edge(edge.src, edge.dst, **attrs)
    return dot.source


# ---------------------------------------------------------------------------------------- render
def have_dot() -> bool:
    return shutil.which("dot") is not None


def render(dot_source: str, fmt: str, dpi: int | None = None) -> bytes:
    """Run the `dot` binary on DOT source; the bytes of the drawing (timestamps pinned for PDF)."""
    if not have_dot():
        raise UserError(f"writing .{fmt} needs the Graphviz 'dot' program, which is not on PATH", INSTALL_HINT)
    cmd = ["dot", f"-T{fmt}"]
    if dpi and fmt == "png":
        cmd.append(f"-Gdpi={int(dpi)}")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    try:
        done = subprocess.run(cmd, input=dot_source.encode("utf-8"), capture_output=True, env=env, timeout=300,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"running Graphviz 'dot' failed: {exc}", INSTALL_HINT) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"Graphviz 'dot -T{fmt}' failed: {message[-1] if message else 'exit ' + str(done.returncode)}",
                        "check that Graphviz is installed with its cairo plugins (dot -Tpng)")
    data = done.stdout
    if fmt == "pdf":                                   # pin any creation date cairo still writes
        data = re.sub(rb"/CreationDate \(D:[0-9Z+\-']+\)", b"/CreationDate (D:19700101000000Z)", data)
    return data
