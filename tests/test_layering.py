"""Imports flow one way: the spec language (netspec), then the compiler, then the backends, with the CLI on
top. The backend-neutral runtime imports no concrete backend, and no module imports another's private names."""
from __future__ import annotations

import ast
import glob
import os

from tests.conftest import ROOT

CLI = ("netspec.cli", "netspec.commands", "netspec.fuzz")
CONCRETE = ("backends.numpy", "backends.numba_cuda", "backends.torch")


def _imports(path: str):
    """(line, absolute module, imported names) for every import in a file, relative imports resolved."""
    package = os.path.relpath(os.path.dirname(path), ROOT).replace(os.sep, ".")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base, [a.name for a in node.names]


def _files(*folders):
    for folder in folders:
        yield from glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True)


def _violations(folders, forbidden):
    out = []
    for path in _files(*folders):
        for line, module, _ in _imports(path):
            if module.startswith(forbidden):
                out.append(f"{os.path.relpath(path, ROOT)}:{line} imports {module}")
    return out


def test_the_compiler_imports_no_backend_and_no_cli():
    assert not _violations(["compiler"], ("backends", *CLI))


def test_the_spec_language_imports_no_backend():
    bad = []
    for path in _files("netspec"):
        module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        if module.startswith(CLI) or module in ("netspec.__main__", "netspec.api"):
            continue
        bad += [f"{module}:{line} imports {name}" for line, name, _ in _imports(path)
                if name.startswith("backends") and not module.startswith(CLI)]
    assert not bad


def test_the_runtime_imports_no_concrete_backend():
    assert not _violations(["backends/runtime"], CONCRETE)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for path in _files("netspec", "compiler", "backends"):
        for line, module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                bad.append(f"{os.path.relpath(path, ROOT)}:{line} imports {private} from {module}")
    assert not bad
