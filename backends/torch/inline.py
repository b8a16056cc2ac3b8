"""Paste the source of a netspec module into a generated file, so that there is one implementation.

Top-level imports are hoisted out (the generated file imports everything once at its top), imports
of netspec's own packages are dropped (those names are defined by other inlined sections), and the
module docstring becomes a comment that says where the section comes from.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import sys
from dataclasses import dataclass, field

OWN_PACKAGES = ("netspec", "backends", "compiler")


@dataclass
class Imports:
    """The import statements of a generated file, deduplicated and grouped (stdlib, then third-party)."""

    plain: set = field(default_factory=set)        # 'import os', 'import numpy as np'
    names: dict = field(default_factory=dict)      # module -> {'dataclass', 'field as f'}

    def add(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                self.plain.add(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
        else:
            target = self.names.setdefault(stmt.module, set())
            target.update(a.name + (f" as {a.asname}" if a.asname else "") for a in stmt.names)

    def add_source(self, source: str) -> None:
        for stmt in ast.parse(source).body:
            self.add(stmt)

    def render(self) -> str:
        lines = [(_module(line), line) for line in self.plain]
        lines += [(module, f"from {module} import {', '.join(sorted(names))}") for module, names in self.names.items()
                  if module != "__future__"]
        def key(item):
            return item[1].startswith("from"), item[1].split()[1]
        stdlib = [line for module, line in sorted(lines, key=key) if module.split(".")[0] in sys.stdlib_module_names]
        other = [line for module, line in sorted(lines, key=key) if module.split(".")[0] not in sys.stdlib_module_names]
        head = ["from __future__ import annotations", ""] if "__future__" in self.names else []
        return "\n".join(head + stdlib + ([""] if stdlib and other else []) + other)


def _module(line: str) -> str:
    return line.split()[1].split(".")[0]


def inline_module(name: str, imports: Imports) -> str:
    """The source of module `name` without its imports and docstring, headed by a section comment."""
    module = importlib.import_module(name)
    source = inspect.getsource(module)
    tree = ast.parse(source)
    lines = source.splitlines()
    drop = set()
    doc = ast.get_docstring(tree)
    for index, stmt in enumerate(tree.body):
        is_doc = index == 0 and isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            base = (stmt.module if isinstance(stmt, ast.ImportFrom) else stmt.names[0].name) or ""
            if isinstance(stmt, ast.ImportFrom) and stmt.level:
                base = "netspec"        # relative import: one of ours
            if base.split(".")[0] not in OWN_PACKAGES:
                imports.add(stmt)
        elif not is_doc:
            continue
        drop.update(range(stmt.lineno - 1, stmt.end_lineno))
    body = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")
    while "\n\n\n\n" in body:
        body = body.replace("\n\n\n\n", "\n\n\n")
    summary = (doc or "").strip().split(":")[0].split(". ")[0].splitlines()[0] if doc else ""
    path = name.replace(".", "/") + ".py"
    header = f"# {'-' * 12} inlined from {path} ({summary.rstrip('.')})"
    return header + "\n\n" + body
