"""No spec text runs as code: every string a spec gives reaches generated PyTorch source as an escaped literal.

Each payload below tries to end its literal or comment and run a statement that creates a marker file. The
generated file is imported with real torch (and `python model.py --help` run); the marker must not exist,
and the text must come back unchanged from the module's docstring and SPEC/TRAIN dicts.
"""
import math
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from conftest import ROOT

from backends.torch import generate
from backends.torch.lower.common import number
from backends.torch.pysource import comment, docstring, value
from netspec import load_graph

BASE = """
name: safe
input: {shape: [6]}
blocks:
  pair:
    layers:
      - {type: linear, units: 6}
      - relu
layers:
  - {type: pair, name: twice}
  - {type: linear, units: 3, name: head}
  - {type: linear, units: 2, name: unused, from: twice}
output: head
train:
  loss: cross_entropy
  optimizer: {type: sgd, lr: 0.1}
  data: {name: npz, path: data.npz}
"""


def payloads(marker) -> list:
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return [
        f'x"""; {touch}; """',
        f"x'''; {touch}; '''",
        f'x"""\n{touch}\n"""',
        f"x\n{touch}\n#",
        f"x\r{touch}\r#",
        f"x\\\n{touch}",
        f'x\\"""; {touch}; """',
        f'x" + {touch} + "',
        f"x' + {touch} + '",
        f"x\x0c\n{touch}",
        f"x\u2028{touch}\u2029",
        f"x\x0b{touch}\x1c\x85",
        f"{{{touch}}} %(prog)s %s",
        "C:\\xdata \\N{BULLET} \\u1234",
        "trailing backslash\\",
        'trailing quote"',
    ]


def python(*args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


IMPORT_CHECK = """
import importlib.util, json, sys
for index, path in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"model{index}", path)
    model = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    net = model.build_model()
    print(json.dumps({"doc": model.__doc__, "name": model.SPEC["name"], "data": model.TRAIN["data"]["path"],
                      "lr": repr(model.TRAIN["optimizer"]["lr"]), "class": type(net).__name__,
                      "params": sum(p.numel() for p in net.parameters())}))
"""


def import_generated(sources: list, directory, help_too: bool = True) -> list:
    """Write each source as a model file, import it and build its model in one fresh process; run `--help`."""
    import json
    paths = []
    for index, source in enumerate(sources):
        paths.append(directory / f"model{index}.py")
        paths[-1].write_text(source, encoding="utf-8")
    done = python("-c", IMPORT_CHECK, *map(str, paths), cwd=directory)
    assert done.returncode == 0, done.stderr
    if help_too:
        helped = python(str(paths[0]), "--help", cwd=directory)
        assert helped.returncode == 0 and "usage:" in helped.stdout, helped.stderr
    return [json.loads(line) for line in done.stdout.splitlines()[-len(sources):]]


def test_no_spec_string_runs_when_the_generated_file_is_imported(tmp_path):
    marker = tmp_path / "PWNED"
    texts = payloads(marker)
    spec = tmp_path / "base.yaml"
    spec.write_text(BASE)
    graph = load_graph(str(spec))
    # the emitter must be safe even where the spec checker would refuse a name (a bypassed or future check)
    graph.name = "".join(texts)
    graph.description = "\n".join(texts)
    graph.source = str(tmp_path / 'evil"""\'#\\.yaml')
    sources = [generate(graph, format_code=True), generate(graph, format_code=False)]
    assert sources[0] != sources[1]            # one formatted by ruff, one as emitted
    for result in import_generated(sources, tmp_path):
        assert graph.name + ": " + graph.description in result["doc"]
        assert result["name"] == graph.name
        assert result["class"].isidentifier() and result["class"].isascii()
        assert result["params"] == graph.total_params
    assert not marker.exists()


def test_cli_compile_of_a_hostile_spec_imports_and_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    texts = payloads(marker)
    import json
    body = BASE.replace("name: safe", "name: hostile").replace("path: data.npz", f"path: {json.dumps(texts[3])}")
    body = body.replace("lr: 0.1", "lr: .inf") + f"description: {json.dumps(chr(10).join(texts))}\n"
    spec = tmp_path / 'evil"""\'#.yaml'
    spec.write_text(body)
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-m", "netspec", "compile", str(spec), "-o", str(tmp_path / "model.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (result,) = import_generated([(tmp_path / "model.py").read_text(encoding="utf-8")], tmp_path)
    assert not marker.exists()
    assert "\n".join(texts) in result["doc"]
    assert result["data"].endswith(texts[3])
    assert result["lr"] == "inf"


AWKWARD = [
    ("my net", "C:\\xdata"),
    ("dataset", "a spec named like a class of the inlined runtime"),
    ("progress-bar.v2", "dots and dashes"),
    ("True", "a keyword once capitalised"),
    ("../../9lives", ""),
]


def test_awkward_names_and_descriptions_give_a_model_that_imports(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE)
    graph = load_graph(str(spec))
    sources = []
    for name, description in AWKWARD:
        graph.name, graph.description = name, description
        sources.append(generate(graph))
    results = import_generated(sources, tmp_path, help_too=False)
    for (name, description), result in zip(AWKWARD, results):
        assert result["name"] == name and result["doc"].startswith(f"{name}: {description}" if description else name)
        assert result["params"] == graph.total_params
        assert result["class"] not in ("Dataset", "ProgressBar", "True")


def test_literals_round_trip():
    import ast
    for text in payloads("m") + ["", "\x00", "\ud800", "a\tb", '"', '""""', "\\"]:
        assert ast.literal_eval(docstring(text)) == text
        assert "\n" not in comment(text) and "\r" not in comment(text)
    obj = {"lr": math.inf, "low": -math.inf, "list": [math.nan, 1.5, "it's"], "t": (1, None, True)}
    back = eval(value(obj), {})  # the spelling uses float('inf'), not a bare name
    assert back["lr"] == math.inf and back["low"] == -math.inf and math.isnan(back["list"][0])
    assert back["list"][1:] == [1.5, "it's"] and back["t"] == (1, None, True)
    assert number(math.inf) == "float('inf')" and number(2.0) == "2" and number(1e-4) == "0.0001"
