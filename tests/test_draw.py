"""`netspec draw`: every library spec draws, SVGs hold every layer and every shape, folding, energy
models, recurrent state, determinism, and the built-in layout when Graphviz is hidden from the PATH."""
from __future__ import annotations

import glob
import itertools
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from compiler.diagram import DrawOptions, build_view, to_dot
from netspec import load_graph
from netspec.cli import main
from netspec.errors import fmt_shape
from tests.conftest import each_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")

RESNET = """
name: tiny_resnet
input: {shape: [3, 16, 16]}
blocks:
  basic:
    params: {filters: 8}
    layers:
      - {type: conv2d, filters: "${filters}", kernel: 3, padding: 1, bias: false}
      - batchnorm
      - relu
      - {type: conv2d, filters: "${filters}", kernel: 3, padding: 1, bias: false}
      - batchnorm
      - {type: add, from: [input, -1]}
      - relu
  stage:
    params: {filters: 8}
    layers:
      - {type: conv2d, name: widen, filters: "${filters}", kernel: 1, stride: 2}
      - {type: basic, filters: "${filters}", repeat: 3}
layers:
  - {type: conv2d, name: stem, filters: 8, kernel: 3, padding: 1, activation: relu}
  - {type: basic, repeat: 2}
  - {type: stage, name: stage2, filters: 16}
  - global_avgpool
  - {type: linear, units: 10}
"""

INCEPTION = """
name: tiny_inception
input: {shape: [3, 16, 16]}
blocks:
  inception:
    params: {c: 4}
    layers:
      - {type: conv2d, name: b1, filters: "${c}", kernel: 1, from: input}
      - {type: conv2d, name: b2r, filters: "${c}", kernel: 1, from: input}
      - {type: conv2d, name: b2, filters: "${c}", kernel: 3, padding: 1}
      - {type: conv2d, name: b3r, filters: "${c}", kernel: 1, from: input}
      - {type: conv2d, name: b3, filters: "${c}", kernel: 5, padding: 2}
      - {type: maxpool2d, name: b4p, kernel: 3, stride: 1, padding: 1, from: input}
      - {type: conv2d, name: b4, filters: "${c}", kernel: 1}
      - {type: concat, name: out, from: [b1, b2, b3, b4]}
layers:
  - {type: inception, name: i3a}
  - global_avgpool
  - {type: linear, units: 10}
"""

RBM_STACK = """
name: {name}
input: {{shape: [1, 8, 8]}}
layers:
  - flatten
  - {{type: rbm, hidden: 32}}
  - {{type: rbm, hidden: 24}}
  - {{type: rbm, hidden: 16}}
  - {{type: linear, units: 10}}
pretrain: {{method: {method}, epochs: 1}}
"""

LSTM = """
name: tiny_lstm
input: {shape: [T], dtype: int64}
layers:
  - {type: embedding, vocab: 20, dim: 8}
  - {type: lstm, hidden: 16, return_sequences: true}
  - {type: linear, units: 20}
"""


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def draw(spec, out, *flags):
    return main(["draw", spec, "-o", str(out), *flags])


def svg_texts(path):
    """(node titles, every text element) of an SVG file."""
    root = ET.parse(path).getroot()
    titles = set()
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            titles.add(group.find(f"{SVG}title").text)
    texts = [(t.text or "").strip() for t in root.iter(f"{SVG}text")]
    return titles, texts


def assert_complete(graph, path, prefix=""):
    """Every layer has a node and every edge's shape is written on the drawing (node ids start with `prefix`
    where one drawing holds several networks)."""
    titles, texts = svg_texts(path)
    missing = [n.name for n in graph if prefix + n.name not in titles]
    assert not missing, f"layers missing from {path}: {missing}"
    for node in graph:
        for src in node.inputs:
            shape = fmt_shape(graph[src].shape)
            if "rbm" in (graph[src].op, node.op):          # RBM layers print their unit counts
                assert any(shape in t for t in texts), (src, node.name, shape)
            else:
                assert shape in texts, f"edge {src} -> {node.name}: shape {shape} not in {path}"
    for name in graph.outputs:
        assert fmt_shape(graph[name].shape) in texts


@needs_dot
@pytest.mark.parametrize("spec", SPECS, ids=[os.path.basename(s) for s in SPECS])
def test_every_library_spec_draws(spec, tmp_path):
    graph = load_graph(spec)
    assert draw(spec, tmp_path / "net.svg") == 0
    for prefix, net in each_graph(graph):
        assert_complete(net, tmp_path / "net.svg", prefix)
    assert draw(spec, tmp_path / "net.png") == 0
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_library_exists():
    assert SPECS, "specs/ holds no spec to draw"


@needs_dot
def test_node_labels_and_title(tmp_path):
    spec = os.path.join(ROOT, "specs", "lenet5.yaml")
    if not os.path.exists(spec):
        pytest.skip("specs/lenet5.yaml not there yet")
    graph = load_graph(spec)
    assert draw(spec, tmp_path / "l.svg") == 0
    titles, texts = svg_texts(tmp_path / "l.svg")
    assert any(t.startswith("conv2d 5x5, 6 + relu") for t in texts)       # type, kernel, filters, activation
    assert "156 params" in texts
    assert "maxpool2d 2x2 /2" in texts
    assert any(graph.name in t and f"{graph.total_params:,}" in t for t in texts)
    assert "legend" in texts and "convolution" in texts and "pooling" in texts
    assert f"{graph.outputs[0]} (output)" in titles and "input" in titles


@needs_dot
def test_symbolic_dims_on_edges(tmp_path):
    spec = write(tmp_path, "lstm", LSTM)
    assert draw(spec, tmp_path / "s.svg") == 0
    _, texts = svg_texts(tmp_path / "s.svg")
    assert "T x 8" in texts and "T x 16" in texts and "T x 20" in texts
    dot = to_dot(build_view(load_graph(spec)))
    assert re.search(r'lstm_2 -> lstm_2 \[[^\]]*label=" h, c 16 "', dot), "LSTM state drawn as a self-loop"


@needs_dot
def test_unroll_draws_time_steps(tmp_path):
    spec = write(tmp_path, "lstm", LSTM)
    assert draw(spec, tmp_path / "u.svg", "--unroll", "3") == 0
    titles, texts = svg_texts(tmp_path / "u.svg")
    assert {"lstm_2 (t=1)", "lstm_2 (t=2)", "lstm_2 (t=T)"} <= titles
    assert "lstm_2" not in titles
    dot = to_dot(build_view(load_graph(spec), DrawOptions(unroll=3)))
    assert '"lstm_2 (t=1)" -> "lstm_2 (t=2)"' in dot and "h, c 16" in texts
    stacked = write(tmp_path, "stacked", LSTM.replace("  - {type: linear", "  - {type: gru, hidden: 4}\n  - {type: linear"))
    view = build_view(load_graph(stacked), DrawOptions(unroll=3))
    between = {(e.src, e.dst) for e in view.edges if e.src.startswith("lstm_2") and e.dst.startswith("gru_3")}
    assert between == {(f"lstm_2 (t={t})", f"gru_3 (t={t})") for t in ("1", "2", "T")}, "steps joined step by step"
    assert [e.src for e in view.edges if e.dst == "linear_4"] == ["gru_3 (t=T)"], "only the last step feeds on"


@needs_dot
def test_blocks_are_clusters_and_collapse_folds_runs(tmp_path):
    spec = write(tmp_path, "resnet", RESNET)
    graph = load_graph(spec)
    dot = to_dot(build_view(graph))
    for cluster in ("basic_2_1", "basic_2_2", "stage2", "stage2/basic_2_1"):
        assert f"subgraph \"cluster_{cluster}\"" in dot or f"subgraph cluster_{cluster} " in dot, cluster
    assert draw(spec, tmp_path / "c.svg", "--collapse") == 0
    titles, texts = svg_texts(tmp_path / "c.svg")
    assert "[basic] x 2" in texts                          # the two top-level instances, folded
    assert "stage2" in titles and "stem" in titles
    assert not any(t.startswith("basic_2_1/") for t in titles)
    # one level deeper: stage2 opens, its three identical basic blocks fold to one 'x 3' node
    assert draw(spec, tmp_path / "d.svg", "--collapse", "--depth", "1") == 0
    titles, texts = svg_texts(tmp_path / "d.svg")
    assert "[basic] x 3" in texts and "stage2/widen" in titles
    # --depth alone folds without merging runs
    assert draw(spec, tmp_path / "e.svg", "--depth", "0") == 0
    titles, texts = svg_texts(tmp_path / "e.svg")
    assert {"basic_2_1", "basic_2_2", "stage2"} <= titles and not any(" x 2" in t for t in texts)


RESNETS = sorted(glob.glob(os.path.join(ROOT, "specs", "resnet*.yaml")))


@needs_dot
@pytest.mark.parametrize("spec", RESNETS, ids=[os.path.basename(s) for s in RESNETS])
def test_library_resnet_collapses(spec, tmp_path):
    graph = load_graph(spec)
    assert draw(spec, tmp_path / "c.svg", "--collapse") == 0
    titles, texts = svg_texts(tmp_path / "c.svg")
    assert any(re.fullmatch(r"\[\w+\] x \d+", t) for t in texts), "identical residual blocks fold into 'x N'"
    assert len(titles) < len(graph.nodes) / 3
    assert any(e.style == "shortcut" for e in build_view(graph).edges), "residual shortcuts are marked"


def test_residual_shortcut_and_merge_symbols(tmp_path):
    graph = load_graph(write(tmp_path, "resnet", RESNET))
    view = build_view(graph)
    shortcuts = [e for e in view.edges if e.style == "shortcut"]
    assert ("stem", "basic_2_1/add_6") in {(e.src, e.dst) for e in shortcuts}
    assert view.nodes["basic_2_1/add_6"].kind == "merge" and view.nodes["basic_2_1/add_6"].symbol == "+"
    inception = build_view(load_graph(write(tmp_path, "inc", INCEPTION)))
    merge = inception.nodes["i3a/out"]
    assert merge.kind == "merge" and merge.symbol == "concat"
    assert sorted(e.src for e in inception.edges if e.dst == "i3a/out") == ["i3a/b1", "i3a/b2", "i3a/b3", "i3a/b4"]
    # the four branches start from the same node, side by side
    assert sorted(e.dst for e in inception.edges if e.src == "input") == ["i3a/b1", "i3a/b2r", "i3a/b3r", "i3a/b4p"]


@needs_dot
def test_dbn_and_dbm_edges(tmp_path):
    dbn = load_graph(write(tmp_path, "dbn", RBM_STACK.format(name="dbn", method="cd")))
    dot = to_dot(build_view(dbn))
    assert re.search(r"rbm_3 -> rbm_4 \[[^\]]*dir=none", dot), "the DBN's top pair is undirected"
    assert re.search(r"rbm_2 -> rbm_3 \[[^\]]*dir=back", dot), "lower DBN layers are directed (generative)"
    assert re.search(r'"rbm_2 \(visible\)" -> rbm_2 \[[^\]]*dir=back', dot)
    assert re.search(r"rbm_4 -> linear_5 \[(?![^\]]*dir=)", dot), "the classifier on top is a plain edge"
    dbm = load_graph(write(tmp_path, "dbm", RBM_STACK.format(name="dbm", method="dbm")))
    dot = to_dot(build_view(dbm))
    assert len(re.findall(r"dir=none", dot)) == 3 and "dir=back" not in dot
    spec = write(tmp_path, "dbn2", RBM_STACK.format(name="dbn", method="cd"))
    assert draw(spec, tmp_path / "dbn.svg") == 0
    assert_complete(dbn, tmp_path / "dbn.svg")
    _, texts = svg_texts(tmp_path / "dbn.svg")
    assert "hidden 32 units (bernoulli)" in texts and "deep belief net" in texts


def test_autoencoder_tied_decoder(tmp_path):
    spec = write(tmp_path, "ae", """
name: ae
input: {shape: [16]}
layers:
  - {type: rbm, name: enc, hidden: 8}
  - {type: rbm, name: code, hidden: 4}
  - {type: tied, name: dec, of: code}
  - {type: tied, name: out, of: enc}
pretrain: {method: autoencoder}
""")
    view = build_view(load_graph(spec))
    styles = {(e.src, e.dst): e.style for e in view.edges}
    assert styles[("enc (visible)", "enc")] == styles[("enc", "code")] == "undirected"
    assert styles[("code", "dec")] == "tied" and styles[("enc", "out")] == "tied"
    assert styles[("dec", "out")] == "flow"
    assert "tied W^T of code" in view.nodes["dec"].lines[0]


@needs_dot
def test_output_is_deterministic(tmp_path):
    spec = write(tmp_path, "resnet", RESNET)
    for suffix in ("dot", "svg", "pdf"):
        assert draw(spec, tmp_path / f"a.{suffix}") == 0
        assert draw(spec, tmp_path / f"b.{suffix}") == 0
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes(), suffix


@needs_dot
def test_rankdir_and_format_flag(tmp_path):
    spec = write(tmp_path, "lstm", LSTM)
    assert draw(spec, tmp_path / "x.out", "--format", "dot", "--rankdir", "LR") == 0
    assert "rankdir=LR" in (tmp_path / "x.out").read_text() and "legend" in (tmp_path / "x.out").read_text()
    assert draw(spec, tmp_path / "y.dot", "--no-legend") == 0
    assert "legend" not in (tmp_path / "y.dot").read_text()
    assert draw(spec, tmp_path / "x.pdf") == 0
    assert (tmp_path / "x.pdf").read_bytes().startswith(b"%PDF")


def test_bad_usage_and_bad_output(tmp_path, capsys):
    spec = write(tmp_path, "lstm", LSTM)
    assert draw(spec, tmp_path / "x.jpg") == 2
    assert "use .svg, .png, .pdf, .dot or .html" in capsys.readouterr().err
    assert draw(spec, tmp_path / "x.dot", "--depth", "-1") == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert draw(spec, blocker / "x.dot") == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err
    broken = write(tmp_path, "broken", LSTM.replace("dim: 8", "dim: eight"))
    assert draw(broken, tmp_path / "y.dot") == 1
    assert not (tmp_path / "y.dot").exists()


# ---------------------------------------------------------------------------- without Graphviz
def run_without_dot(tmp_path, *args):
    """Run the CLI in a subprocess whose PATH is an empty directory (no `dot`).

    The interpreter runs as sys.executable itself, not through a link: a link elsewhere would leave a virtual
    environment (Python finds its environment beside the path it was started by).
    """
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    env = dict(os.environ, PATH=str(bindir), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "netspec", "draw", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", ["resnet", "inception", "dbn", "lstm"])
def test_fallback_layout_without_dot(tmp_path, name):
    text = {"resnet": RESNET, "inception": INCEPTION, "lstm": LSTM,
            "dbn": RBM_STACK.format(name="dbn", method="cd")}[name]
    spec = write(tmp_path, name, text)
    done = run_without_dot(tmp_path, spec, "-o", tmp_path / "f.svg")
    assert done.returncode == 0, done.stderr
    assert "install Graphviz for the full layout" in done.stderr and "Traceback" not in done.stderr
    graph = load_graph(spec)
    assert_complete(graph, tmp_path / "f.svg")
    _, texts = svg_texts(tmp_path / "f.svg")
    assert any("install Graphviz for the full layout" in t for t in texts)
    # same bytes every time
    again = run_without_dot(tmp_path, spec, "-o", tmp_path / "g.svg")
    assert again.returncode == 0
    assert (tmp_path / "f.svg").read_bytes() == (tmp_path / "g.svg").read_bytes()


def test_fallback_png_fails_with_install_hint(tmp_path):
    spec = write(tmp_path, "lstm", LSTM)
    for suffix in ("png", "pdf"):
        done = run_without_dot(tmp_path, spec, "-o", tmp_path / f"f.{suffix}")
        assert done.returncode == 1
        assert "apt-get install graphviz" in done.stderr and "brew install graphviz" in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / f"f.{suffix}").exists()
    done = run_without_dot(tmp_path, spec, "-o", tmp_path / "f.dot")
    assert done.returncode == 0 and (tmp_path / "f.dot").read_text().startswith("digraph")


def test_fallback_layout_geometry():
    """Layers by longest path: every edge goes down, nodes of one layer do not overlap."""
    from compiler.layout import layout
    spec = os.path.join(ROOT, "specs", "googlenet.yaml")
    if not os.path.exists(spec):
        pytest.skip("specs/googlenet.yaml not there yet")
    view = build_view(load_graph(spec))
    boxes, routes = layout(view)
    for edge, path in zip(view.edges, routes):
        if edge.src != edge.dst and edge.style != "state":
            assert boxes[edge.dst].y > boxes[edge.src].y, (edge.src, edge.dst)
            assert len(path) == boxes[edge.dst].layer - boxes[edge.src].layer + 1
    rows = {}
    for box in boxes.values():
        rows.setdefault(box.layer, []).append(box)
    for row in rows.values():
        row.sort(key=lambda b: b.x)
        for a, b in itertools.pairwise(row):
            assert a.x + a.w / 2 <= b.x - b.w / 2 + 1e-6


def svg_edges(path):
    """{edge title 'src->dst': is dashed} of an SVG file drawn by `dot`."""
    root = ET.parse(path).getroot()
    edges = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "edge":
            edges[group.find(f"{SVG}title").text] = group.find(f"{SVG}path").get("stroke-dasharray") is not None
    return edges


@needs_dot
def test_cell_is_a_cluster_with_dashed_state_feedback(tmp_path):
    spec = os.path.join(ROOT, "specs", "cells", "gru.yaml")
    assert draw(spec, tmp_path / "c.svg") == 0
    root = ET.parse(tmp_path / "c.svg").getroot()
    clusters = {g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"}
    assert "cluster_gru_cell_1" in clusters
    titles, texts = svg_texts(tmp_path / "c.svg")
    step = {f"gru_cell_1/{n}" for n in ("x_t", "h", "r", "z", "xn", "hn", "h_new")}
    assert step <= titles and "gru_cell_1" not in titles
    assert any(t.startswith("gru_cell_1: gru_cell cell (h 32)") for t in texts)
    edges = svg_edges(tmp_path / "c.svg")
    assert edges["gru_cell_1/h_new->gru_cell_1/h"] is True, "the update feeds back to its state, dashed"
    assert edges["input->gru_cell_1/x_t"] is False and edges["gru_cell_1/h_new->linear_2"] is False
    assert "8x8" in texts and "40" in texts                # the sequence in, the step's [x, h] inside


@needs_dot
def test_cell_unrolls_collapses_and_seeds_its_state(tmp_path):
    spec = write(tmp_path, "seeded", """
name: seeded
inputs: {x: {shape: [T, 4]}, img: {shape: [6]}}
blocks:
  tiny:
    params: {hidden: 3}
    state: {h: ["${hidden}"]}
    layers:
      - {type: concat, name: xh, from: [input, h]}
      - {type: linear, name: n, units: "${hidden}", activation: tanh}
    update: {h: n}
layers:
  - {type: linear, name: seed, units: 3, from: img}
  - {type: tiny, name: rnn1, from: x, initial_state: {h: seed}, return_sequences: true}
""")
    assert draw(spec, tmp_path / "u.svg", "--unroll", "3") == 0
    titles, _ = svg_texts(tmp_path / "u.svg")
    assert {"rnn1 (t=1)", "rnn1 (t=2)", "rnn1 (t=T)"} <= titles and "rnn1" not in titles
    edges = svg_edges(tmp_path / "u.svg")
    assert edges["rnn1 (t=1)->rnn1 (t=2)"] is True and edges["rnn1 (t=2)->rnn1 (t=T)"] is True
    assert [e for e in edges if e.startswith("seed->")] == ["seed->rnn1 (t=1)"], "initial_state seeds step 1 only"
    assert draw(spec, tmp_path / "s.svg") == 0
    edges = svg_edges(tmp_path / "s.svg")
    assert edges["seed->rnn1/h"] is False and edges["x->rnn1/x_t"] is False and edges["rnn1/n->rnn1/h"] is True
    assert draw(spec, tmp_path / "f.svg", "--collapse") == 0
    titles, _ = svg_texts(tmp_path / "f.svg")
    assert "rnn1" in titles and "rnn1/n" not in titles
    assert svg_edges(tmp_path / "f.svg")["rnn1->rnn1"] is True, "folded cell: a dashed self-loop"
