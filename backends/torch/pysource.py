"""Safe spellings of spec-provided text and values in generated Python source.

Every string that comes from a spec (names, descriptions, paths) reaches a generated file only through
these functions, so no spec can end a literal or a comment early and have its text run as code.
"""
from __future__ import annotations

import ast
import math
import pprint


def docstring(text: str) -> str:
    """`text` as a triple-quoted docstring literal whose value is exactly `text`.

    Newlines stay readable; backslashes, double quotes and every other non-printable character are escaped.
    """
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n" or char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    literal = '"""' + "".join(out) + '"""'
    assert ast.literal_eval(literal) == text, "docstring escaping lost text"
    return literal


def comment(text: str) -> str:
    """`text` fit for a `#` comment: one line, control characters shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class _Source:
    """A value whose repr is the given source text (for pprint)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return _Source(f"float({str(value)!r})")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_finite(item) for item in value)
    return value


def value(obj, width: int = 100) -> str:
    """Source that evaluates to `obj` (dicts, lists, tuples, str, numbers, bools, None); inf/nan as float('inf')."""
    return pprint.pformat(_finite(obj), width=width, sort_dicts=False)


def assignment(name: str, obj) -> str:
    """`NAME = <source of obj>`."""
    return f"{name} = {value(obj)}"


def defined_names(source: str) -> set:
    """The names a module's source binds at top level (defs, classes, assignments, imports)."""
    names = set()
    for stmt in ast.parse(source).body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        else:
            names.update(n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names
