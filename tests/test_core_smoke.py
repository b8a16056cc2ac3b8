"""Smoke tests of the core pipeline: load, expand, build, infer, CLI exit codes."""
import json
import subprocess
import sys

from netspec import analyse, load_graph
from netspec.spec import load_text
from tests.conftest import ROOT


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "netspec", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


def test_lenet5_params_and_shapes():
    graph = load_graph(f"{ROOT}/specs/lenet5.yaml")
    assert graph.total_params == 61_706
    assert graph[graph.outputs[0]].shape == (10,)


def test_block_names_are_namespaced(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("""name: r
input: {shape: [4, 8, 8]}
blocks:
  res:
    params: {f: 4}
    layers:
      - {type: conv2d, filters: "${f}", kernel: 3, padding: 1}
      - {type: add, from: [input, -1]}
layers:
  - {type: res, repeat: 2, name: stage}
  - flatten
""")
    graph = load_graph(str(path))
    names = [n.name for n in graph.layers()]
    assert names[:4] == ["stage_1/conv2d_1", "stage_1/add_2", "stage_2/conv2d_1", "stage_2/add_2"]
    assert graph["stage_2/add_2"].inputs == ["stage_1/add_2", "stage_2/conv2d_1"]


def test_cli_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput: {shape: [4]}\nlayers:\n  - {type: lineer, units: 3}\n")
    result = run_cli("check", str(bad))
    assert result.returncode == 1
    assert "bad.yaml:4:12: unknown layer type 'lineer'; did you mean 'linear'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli("check").returncode == 2
    ok = run_cli("summary", "specs/lenet5.yaml", "--json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["total_params"] == 61_706


def test_all_independent_faults_are_reported():
    text = """name: two
input: {shape: [1, 8, 8]}
layers:
  - {type: conv2d, filters: 4, kernel: 9}
  - {type: linear, unitz: 3}
"""
    spec = load_text(text, "two.yaml")
    assert not spec.diagnostics
    from compiler.build import build
    from compiler.infer import infer
    from netspec.errors import Collector
    errors = Collector()
    graph, broken = build(spec, errors)
    infer(graph, errors, broken)
    messages = [str(d) for d in errors.diagnostics]
    assert any("unknown attribute 'unitz'; did you mean 'units'?" in m for m in messages)
    assert any("output size (8 + 2*0 - 9)/1 + 1 = 0 is not positive" in m for m in messages)


def test_analyse_returns_no_graph_on_faults(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ninput: {shape: [3]}\nlayers: [{type: linear}]\n")
    graph, diagnostics = analyse(str(path))
    assert graph is None
    assert "missing required attribute 'units'" in str(diagnostics[0])


def test_check_and_summary_do_not_import_heavy_modules():
    probe = ("import sys\nfrom netspec.cli import main\n"
             "assert main(['check', 'specs/resnet50.yaml']) == 0\n"
             "assert main(['summary', 'specs/googlenet.yaml', '--json']) == 0\n"
             "heavy = [m for m in ('torch', 'numba', 'numpy', 'graphviz') if m in sys.modules]\n"
             "print('HEAVY', heavy)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_check_start_up_adds_no_slow_stdlib_imports():
    """`netspec check` must start fast (issue 2: under 200 ms with the interpreter): none of these modules,
    each several ms to import, may be pulled in beyond what the bare interpreter already loaded."""
    slow = ("dataclasses", "inspect", "hashlib", "typing", "difflib", "numpy")
    probe = ("import sys\nbare = set(sys.modules)\nfrom netspec.cli import main\n"
             "assert main(['check', 'specs/resnet50.yaml', 'specs/googlenet.yaml']) == 0\n"
             f"print('ADDED', sorted(m for m in {slow!r} if m in sys.modules and m not in bare))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert "ADDED []" in result.stdout, result.stdout
