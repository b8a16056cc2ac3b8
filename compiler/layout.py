"""A small layered layout that draws a diagram View as SVG without Graphviz.

Used by `netspec draw` when the `dot` binary is missing. It is the classic Sugiyama recipe kept
short: layers by longest path, dummy points on edges that span several layers, a few barycentre
sweeps to order each layer, nodes placed under their parents without overlaps, straight or polyline
edges labelled with their shapes. Always top to bottom. Deterministic: no randomness, fixed rounding.
"""
from __future__ import annotations

import itertools
from xml.sax.saxutils import escape

from .diagram import COLOURS, EDGE_STYLES, View

CHAR = 0.6                 # average glyph width per point of font size (sans-serif)
LINE = 1.3                 # line height per point of font size
SIZES = (11, 10, 9)        # title, first detail line, further lines
LAYER_GAP = 46             # vertical room between layers, for shape labels
NODE_GAP = 18
MARGIN = 20
NOTE = "laid out by netspec's built-in layout; install Graphviz for the full layout"


def _text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR


class _Box:
    __slots__ = ("dummy", "h", "id", "layer", "order", "w", "x", "y")

    def __init__(self, ident, w, h, layer, dummy=False):
        self.id, self.w, self.h, self.layer, self.dummy = ident, w, h, layer, dummy
        self.x = self.y = 0.0
        self.order = 0.0


def _size(node) -> tuple:
    if node.kind == "merge":
        if len(node.symbol) == 1:
            return 22.0, 22.0
        return _text_width(node.symbol, 10) + 16, 20.0
    lines = [node.title, *node.lines]
    sizes = [SIZES[min(i, 2)] for i in range(len(lines))]
    width = max(_text_width(t, s) for t, s in zip(lines, sizes)) + 16
    return max(width, 40.0), sum(s * LINE for s in sizes) + 10


def _layers(view: View) -> dict:
    """Longest-path layer of every node (state edges between unrolled steps keep one layer)."""
    index = {nid: i for i, nid in enumerate(view.nodes)}
    preds = {nid: [] for nid in view.nodes}
    succs = {nid: [] for nid in view.nodes}
    for e in view.edges:
        if e.src != e.dst and e.style != "state":
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)
    pending = {nid: len(p) for nid, p in preds.items()}
    ready = sorted((nid for nid, n in pending.items() if n == 0), key=index.get)
    layer = {}
    while ready:
        nid = ready.pop(0)
        layer[nid] = max((layer[p] + 1 for p in preds[nid]), default=0)
        for s in succs[nid]:
            pending[s] -= 1
            if pending[s] == 0:
                ready.append(s)
                ready.sort(key=index.get)
    for nid in view.nodes:                  # a cycle cannot come from the IR; keep going if it did
        layer.setdefault(nid, 0)
    return layer


def layout(view: View) -> tuple:
    """Boxes (with dummy boxes) and, per edge, the list of box ids it passes through."""
    layer = _layers(view)
    boxes = {}
    for nid, node in view.nodes.items():
        w, h = _size(node)
        boxes[nid] = _Box(nid, w, h, layer[nid])
    routes = []
    for i, e in enumerate(view.edges):
        path = [e.src]
        if e.src != e.dst and e.style not in ("state", "tied"):
            for k in range(layer[e.src] + 1, layer[e.dst]):
                did = f"\x00{i}:{k}"
                boxes[did] = _Box(did, 4.0, 4.0, k, dummy=True)
                path.append(did)
        path.append(e.dst)
        routes.append(path)
    rows: dict = {}
    for box in boxes.values():
        rows.setdefault(box.layer, []).append(box)
    for row in rows.values():
        for k, box in enumerate(row):
            box.order = k
    _order(rows, routes, boxes)
    _place(rows, routes, boxes)
    return boxes, routes


def _order(rows, routes, boxes) -> None:
    up, down = {}, {}
    for path in routes:
        for a, b in itertools.pairwise(path):
            if boxes[a].layer != boxes[b].layer:
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
    depth = max(rows) if rows else 0
    for sweep in range(4):
        layers = range(1, depth + 1) if sweep % 2 == 0 else range(depth - 1, -1, -1)
        links = up if sweep % 2 == 0 else down
        for k in layers:
            row = rows.get(k, [])
            for box in row:
                near = links.get(box.id, [])
                box.order = (sum(boxes[n].order for n in near) / len(near)) if near else box.order
            row.sort(key=lambda b: b.order)
            for i, box in enumerate(row):
                box.order = i


def _place(rows, routes, boxes) -> None:
    parents = {}
    for path in routes:
        for a, b in itertools.pairwise(path):
            if boxes[b].layer > boxes[a].layer:
                parents.setdefault(b, []).append(a)
    y = MARGIN
    for k in sorted(rows):
        row = rows[k]
        height = max(b.h for b in row)
        for box in row:
            box.y = y + height / 2
            near = parents.get(box.id)
            box.x = sum(boxes[p].x for p in near) / len(near) if near else 0.0
        # keep the order, push apart to remove overlaps, then re-centre the row on its wishes
        wish = sum(b.x for b in row) / len(row)
        for i in range(1, len(row)):
            least = row[i - 1].x + (row[i - 1].w + row[i].w) / 2 + NODE_GAP
            row[i].x = max(row[i].x, least)
        shift = wish - sum(b.x for b in row) / len(row)
        for box in row:
            box.x += shift
        y += height + LAYER_GAP


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def layout_svg(view: View, note: bool = False) -> str:
    """The whole drawing as an SVG document."""
    boxes, routes = layout(view)
    real = [b for b in boxes.values()]
    left = min(b.x - b.w / 2 for b in real) if real else 0.0
    legend_w = 150 if view.legend else 0
    title_h = 44 if view.subtitle else 30
    dx = MARGIN - left
    dy = title_h
    for b in boxes.values():
        b.x += dx
        b.y += dy
    width = max((b.x + b.w / 2 for b in real), default=0) + MARGIN + legend_w
    width = max(width, _text_width(view.title, 16) + 2 * MARGIN, _text_width(NOTE, 9) + 2 * MARGIN)
    height = max((b.y + b.h / 2 for b in real), default=0) + MARGIN + (18 if note else 0)
    legend_h = 22 + 16 * (len(view.legend) + len(view.edge_legend))
    height = max(height, title_h + legend_h + MARGIN)
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
           (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}pt" height="{_fmt(height)}pt" '
           f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" font-family="Helvetica,Arial,sans-serif">'),
           "<defs>",
           ('<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666666"/></marker>'),
           "</defs>",
           f'<rect x="0" y="0" width="{_fmt(width)}" height="{_fmt(height)}" fill="white"/>',
           (f'<text x="{_fmt(width / 2)}" y="20" text-anchor="middle" font-size="16" font-weight="bold">'
           f"{escape(view.title)}</text>")]
    if view.subtitle:
        out.append(f'<text x="{_fmt(width / 2)}" y="35" text-anchor="middle" font-size="10">'
                   f"{escape(view.subtitle)}</text>")
    out.extend(_clusters(view, boxes))
    for edge, path in zip(view.edges, routes):
        out.extend(_edge(edge, [boxes[p] for p in path]))
    for nid, node in view.nodes.items():
        out.extend(_node(node, boxes[nid]))
    if view.legend:
        out.extend(_legend(view, width - legend_w, title_h))
    if note:
        out.append(f'<text x="{MARGIN}" y="{_fmt(height - 8)}" font-size="9" fill="#777777">{escape(NOTE)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _clusters(view: View, boxes) -> list:
    """Block clusters as rounded backgrounds, drawn where they do not cover other nodes."""
    spans = {}
    for nid, node in view.nodes.items():
        key = node.cluster
        while key is not None:
            spans.setdefault(key, []).append(boxes[nid])
            key = view.clusters[key].parent
    out = []
    for key, cluster in view.clusters.items():
        members = spans.get(key)
        if not members:
            continue
        level = 0
        parent = cluster.parent
        while parent is not None:
            level, parent = level + 1, view.clusters[parent].parent
        pad = max(4, 12 - 3 * level)
        x0 = min(b.x - b.w / 2 for b in members) - pad
        x1 = max(b.x + b.w / 2 for b in members) + pad
        y0 = min(b.y - b.h / 2 for b in members) - pad - 12
        y1 = max(b.y + b.h / 2 for b in members) + pad
        ids = {b.id for b in members}
        covered = any(not b.dummy and b.id not in ids and x0 < b.x < x1 and y0 < b.y < y1 for b in boxes.values())
        if covered:
            continue
        shade = "#f7f7fb" if level % 2 == 0 else "#eef0f6"
        out.append(f'<g class="cluster"><title>{escape(key)}</title>'
                   f'<rect x="{_fmt(x0)}" y="{_fmt(y0)}" width="{_fmt(x1 - x0)}" height="{_fmt(y1 - y0)}" rx="6" '
                   f'fill="{shade}" stroke="#9a9ab0"/>'
                   f'<text x="{_fmt(x0 + 5)}" y="{_fmt(y0 + 11)}" font-size="10">{escape(cluster.label)}</text></g>')
    return out


def _edge(edge, path) -> list:
    style = EDGE_STYLES[edge.style]
    colour = style.get("color", "#666666")
    width = style.get("penwidth", "1")
    dash = ' stroke-dasharray="4,3"' if style.get("style") == "dashed" else ""
    head = {"none": "", "back": ' marker-start="url(#arrow)"'}.get(style.get("dir"), ' marker-end="url(#arrow)"')
    src, dst = path[0], path[-1]
    label_at = None
    if src is dst:                                   # a recurrent self-loop on the right side
        x, y = src.x + src.w / 2, src.y
        d = f"M{_fmt(x)},{_fmt(y - 6)} C{_fmt(x + 28)},{_fmt(y - 22)} {_fmt(x + 28)},{_fmt(y + 22)} " \
            f"{_fmt(x)},{_fmt(y + 6)}"
        label_at = (x + 28, y + 3)
    elif src.layer == dst.layer:                     # unrolled steps, side by side
        a, b = (src, dst) if src.x < dst.x else (dst, src)
        d = f"M{_fmt(a.x + a.w / 2)},{_fmt(a.y)} L{_fmt(b.x - b.w / 2)},{_fmt(b.y)}"
        label_at = ((a.x + a.w / 2 + b.x - b.w / 2) / 2 - _text_width(edge.label, 9) / 2, a.y - 4)
    else:
        points = [(src.x, src.y + src.h / 2)] + [(b.x, b.y) for b in path[1:-1]] + [(dst.x, dst.y - dst.h / 2)]
        d = "M" + " L".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
        (x0, y0), (x1, y1) = points[0], points[1]
        label_at = ((x0 + x1) / 2 + 4, y0 + min(24.0, (y1 - y0) / 2) + 3)
    out = [(f'<g class="edge"><title>{escape(edge.src)}-&gt;{escape(edge.dst)}</title>'
           f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}{head}/>')]
    if edge.label:
        fill = style.get("fontcolor", "#444444")
        out.append(f'<text x="{_fmt(label_at[0])}" y="{_fmt(label_at[1])}" font-size="9" fill="{fill}">'
                   f"{escape(edge.label)}</text>")
    out.append("</g>")
    return out


def _node(node, box) -> list:
    fill = COLOURS.get(node.family, "#ffffff")
    x0, y0 = box.x - box.w / 2, box.y - box.h / 2
    out = [f'<g class="node"><title>{escape(node.id)}</title>']
    if node.kind == "merge":
        if len(node.symbol) == 1:
            out.append(f'<circle cx="{_fmt(box.x)}" cy="{_fmt(box.y)}" r="11" fill="{fill}" stroke="#555555"/>')
            size = 14
        else:
            out.append(f'<ellipse cx="{_fmt(box.x)}" cy="{_fmt(box.y)}" rx="{_fmt(box.w / 2)}" '
                       f'ry="{_fmt(box.h / 2)}" fill="{fill}" stroke="#555555"/>')
            size = 10
        out.append(f'<text x="{_fmt(box.x)}" y="{_fmt(box.y + size * 0.35)}" text-anchor="middle" '
                   f'font-size="{size}">{escape(node.symbol)}</text></g>')
        return out
    stroke = "2" if node.kind in ("input", "output") else "1"
    radius = "0" if node.kind == "block" else "6"
    out.append(f'<rect x="{_fmt(x0)}" y="{_fmt(y0)}" width="{_fmt(box.w)}" height="{_fmt(box.h)}" rx="{radius}" '
               f'fill="{fill}" stroke="#555555" stroke-width="{stroke}"/>')
    y = y0 + 5
    for i, line in enumerate([node.title, *node.lines]):
        size = SIZES[min(i, 2)]
        y += size * LINE
        weight = ' font-weight="bold"' if i == 0 else ""
        colour = "#000000" if i < 2 else "#555555"
        out.append(f'<text x="{_fmt(box.x)}" y="{_fmt(y - size * 0.3)}" text-anchor="middle" font-size="{size}" '
                   f'fill="{colour}"{weight}>{escape(line)}</text>')
    out.append("</g>")
    return out


def _legend(view: View, x: float, y: float) -> list:
    out = ['<g class="legend">', f'<text x="{_fmt(x)}" y="{_fmt(y + 10)}" font-size="11" font-weight="bold">legend</text>']
    y += 18
    for family, label in view.legend:
        out.append(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="12" height="12" fill="{COLOURS[family]}" '
                   f'stroke="#555555"/><text x="{_fmt(x + 18)}" y="{_fmt(y + 10)}" font-size="9">{escape(label)}</text>')
        y += 16
    for style, label in view.edge_legend:
        colour = EDGE_STYLES[style].get("color", "#666666")
        dash = ' stroke-dasharray="4,3"' if EDGE_STYLES[style].get("style") == "dashed" else ""
        out.append(f'<line x1="{_fmt(x)}" y1="{_fmt(y + 6)}" x2="{_fmt(x + 12)}" y2="{_fmt(y + 6)}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>'
                   f'<text x="{_fmt(x + 18)}" y="{_fmt(y + 10)}" font-size="9">{escape(label)}</text>')
        y += 16
    out.append("</g>")
    return out


__all__ = ["NOTE", "layout", "layout_svg"]
