"""The broken-spec corpus: every fault gets its one expected line, exit code 1 and no traceback.

Each file under tests/broken/ lists its expected messages as `# expect: <substring>` lines
(file:line:col, layer, expected vs found, the fix); the check must print exactly one line per
expected message, in that order.
"""
import glob
import os
import subprocess
import sys

import pytest

from netspec.cli import main
from tests.conftest import ROOT

BROKEN = sorted(glob.glob(os.path.join(ROOT, "tests", "broken", "*.yaml")))


def expectations(path):
    with open(path, encoding="utf-8") as handle:
        return [line[len("# expect: "):].rstrip("\n") for line in handle if line.startswith("# expect: ")]


def check(capsys, *args):
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_corpus_is_large_and_every_file_has_expectations():
    assert len(BROKEN) >= 60
    for path in BROKEN:
        assert expectations(path), f"{path} has no '# expect:' line"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: os.path.basename(p)[:-5])
def test_broken_spec_gets_its_messages(capsys, path):
    code, out, err = check(capsys, path)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err
    lines = err.splitlines()
    expected = expectations(path)
    assert len(lines) == len(expected), f"one line per fault expected:\n{err}"
    for line, want in zip(lines, expected):
        assert want in line
        assert line.startswith(path), "every message starts with the file (and line:col where known)"


def test_every_message_has_a_position_where_one_exists():
    positioned = 0
    for path in BROKEN:
        for want in expectations(path):
            head = want.split(": ", 1)[0]
            positioned += head.count(":") == 2
    assert positioned == sum(len(expectations(p)) for p in BROKEN)


def test_independent_faults_are_all_reported(capsys):
    path = os.path.join(ROOT, "tests", "broken", "independent_faults.yaml")
    code, _, err = check(capsys, path)
    assert code == 1
    assert [line.split(": ")[0].rsplit("/", 1)[-1] for line in err.splitlines()] == [
        "independent_faults.yaml:5:43", "independent_faults.yaml:6:12", "independent_faults.yaml:8:27"]


def test_the_cli_exits_1_without_traceback_for_several_files():
    paths = [os.path.join("tests", "broken", name) for name in
             ("alias_bomb.yaml", "python_object_tag.yaml", "yaml_tabs.yaml", "kernel_larger_than_input.yaml")]
    result = subprocess.run([sys.executable, "-m", "netspec", "check", "specs/lenet5.yaml", *paths],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 4
    assert "specs/lenet5.yaml: ok" in result.stdout


def test_usage_errors_exit_2(capsys):
    assert main(["check"]) == 2
    assert main(["check", "specs/lenet5.yaml", "--set", "no-equals-sign"]) == 2
    assert main(["frobnicate"]) == 2
    capsys.readouterr()


def test_unknown_set_var_is_a_spec_fault(capsys):
    code, _, err = check(capsys, os.path.join(ROOT, "specs", "lenet5.yaml"), "--set", "widht=8")
    assert code == 1
    assert "--set widht=...: the spec has no var 'widht'; did you mean 'width'?" in err


def test_missing_file(capsys):
    code, _, err = check(capsys, "no/such/spec.yaml")
    assert code == 1 and "no/such/spec.yaml: no such file" in err


def test_deep_nesting_is_rejected_before_composing(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nlayers: " + "[" * 100 + "]" * 100 + "\n")
    code, _, err = check(capsys, str(path))
    assert code == 1
    assert "YAML nesting deeper than 64 levels" in err
    # far deeper: libyaml (PyYAML >= 6.0.4) may refuse it first, with its own located one-line message
    path.write_text("name: deep\nlayers: " + "[" * 20_000 + "]" * 20_000 + "\n")
    code, _, err = check(capsys, str(path))
    assert code == 1 and err.count("\n") == 1 and f"{path}:2:" in err and "nesting" in err


def test_huge_file_is_rejected_without_parsing(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\n# " + "x" * (3 * 1024 * 1024) + "\n")
    code, _, err = check(capsys, str(path))
    assert code == 1
    assert "more than the 2048 KiB allowed" in err


def test_many_aliases_are_rejected(tmp_path, capsys):
    path = tmp_path / "aliases.yaml"
    path.write_text("name: a\nx: &x 1\nys: [" + ", ".join(["*x"] * 300) + "]\n")
    code, _, err = check(capsys, str(path))
    assert code == 1
    assert "more than 256 YAML aliases" in err


def test_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    code, _, err = check(capsys, str(path))
    assert code == 1 and "not UTF-8 text" in err
