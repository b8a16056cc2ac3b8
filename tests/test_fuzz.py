"""Spec mutations (YAML text, structure, values) from fixed seeds: every mutant gets a located message or
works in summary, the DOT diagram and torch code generation; none reaches an internal error or hangs.

The longer run is `python -m netspec.fuzz --mutants 20000` (figures in benchmarks/RESULTS.md).
"""
import os

import pytest

from netspec.cli import main
from netspec.fuzz import FAILURES, fuzz, run_case


def _shown(report) -> str:
    return "\n".join(f"--- {f['outcome']} ({f['level']} mutant of {f['seed']}): {f['detail']}\n{f['text'][:1500]}"
                     for f in report["failures"][:5])


@pytest.mark.parametrize("seed", [14, 15])
def test_mutated_specs_get_a_located_message_or_work_downstream(seed):
    report = fuzz(500, seed=seed, timeout=30)
    figures = report["figures"]
    assert figures["mutants"] >= 480
    assert figures["error"] > 0 and figures["accepted"] > 0   # both paths were exercised
    assert not any(figures[k] for k in FAILURES), _shown(report)
    assert figures["unlocated"] == 0


def test_the_fuzzer_tells_a_hang_and_an_internal_error(tmp_path, monkeypatch):
    path = tmp_path / "ok.yaml"
    path.write_text("name: t\ninput: {shape: [4]}\nlayers: [{type: linear, units: 2}]\n")
    assert run_case(str(path)) == ("accepted", None)
    import netspec.fuzz as fuzz_module

    def slow(graph, deep):
        while True:
            pass
    monkeypatch.setattr(fuzz_module, "downstream", slow)
    outcome, detail = run_case(str(path), timeout=0.5)
    assert outcome == "hung" and "summary/draw/compile" in detail

    def broken(path):
        raise KeyError("boom")
    monkeypatch.setattr(fuzz_module, "analyse", broken)
    outcome, detail = run_case(str(path))
    assert outcome == "internal" and "KeyError" in detail


HOSTILE = {
    "null_units": "name: t\ninput: {shape: [8]}\nlayers:\n  - {type: linear, units: null}\n",
    "int_tag": "name: t\ninput: {shape: [8]}\nlayers:\n  - {type: linear, units: !!int abc}\n",
    "int_of_inf": 'name: t\ninput: {shape: [8]}\nlayers:\n  - {type: linear, units: "${int(1e999)}"}\n',
    "climbing_name": "name: ../../t\ninput: {shape: [8]}\nlayers:\n  - {type: linear, units: 2}\n",
    "huge_stride": "name: t\ninput: {shape: [1, 8, 8]}\nlayers:\n  - {type: conv2d, filters: 2, kernel: 1, "
                   "stride: 99999999999999999999}\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["check", "summary", "draw", "compile"])
def test_hostile_specs_on_the_command_line(tmp_path, capsys, monkeypatch, name, command):
    monkeypatch.chdir(tmp_path)
    os.mkdir("work")
    path = tmp_path / f"{name}.yaml"
    path.write_text(HOSTILE[name])
    extra = {"draw": ["-o", "work/x.dot"], "compile": ["--target", "torch", "-o", "work/m.py"]}.get(command, [])
    code = main([command, str(path), *extra])
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:") and "internal error" not in err
    assert os.listdir("work") == [] and sorted(os.listdir(tmp_path)) == sorted(["work", f"{name}.yaml"])
