"""Diagnostics: one clear message per fault, with file:line:col, the layer and the fix."""
from __future__ import annotations

from .record import FrozenRecord, Record


class Pos(FrozenRecord):
    """A position in a spec file (1-based line and column)."""

    def __init__(self, file: str, line: int = 0, col: int = 0):
        self._init(file=file, line=line, col=col)

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


class Diagnostic(Record):
    """One fault found in a spec: where, what, the layer (full name, e.g. 'stage2/conv_1') and the fix."""

    def __init__(self, pos: Pos | None, message: str, layer: str | None = None, layer_type: str | None = None,
                 hint: str | None = None):
        self.pos = pos
        self.message = message
        self.layer = layer
        self.layer_type = layer_type
        self.hint = hint          # e.g. "did you mean 'conv2d'?"

    def __str__(self) -> str:
        parts = [str(self.pos) if self.pos else "<spec>"]
        if self.layer is not None:
            kind = f" ({self.layer_type})" if self.layer_type else ""
            parts.append(f"layer '{self.layer}'{kind}")
        text = ": ".join(parts) + ": " + self.message
        if self.hint:
            text += f"; {self.hint}"
        return text


def collapse(diagnostics) -> list[Diagnostic]:
    """One diagnostic per written fault: the copies a repeat or a block made of it become one line
    (the first copy's), ending '(in 10,000 copies)'."""
    groups: dict = {}
    for diagnostic in diagnostics:
        key = (diagnostic.pos, diagnostic.message, diagnostic.layer_type, diagnostic.hint)
        groups.setdefault(key, []).append(diagnostic)
    out = []
    for first, *rest in groups.values():
        if rest:
            first = Diagnostic(first.pos, f"{first.message} (in {len(rest) + 1:,} copies)", first.layer,
                               first.layer_type, first.hint)
        out.append(first)
    return out


class SpecError(Exception):
    """Raised with every fault found in a spec; str() gives one line per fault."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = collapse(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class Collector(Record):
    """Gathers diagnostics so that all independent faults of a file are reported."""

    def __init__(self, diagnostics: list[Diagnostic] | None = None):
        self.diagnostics = [] if diagnostics is None else diagnostics

    def add(self, pos, message, layer=None, layer_type=None, hint=None) -> None:
        self.diagnostics.append(Diagnostic(pos, message, layer, layer_type, hint))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics)

    def __bool__(self) -> bool:
        return bool(self.diagnostics)


def did_you_mean(word: str, choices) -> str | None:
    """A 'did you mean ...?' hint for a misspelt name, or None."""
    import difflib  # imported on first use: a valid spec never needs it
    close = difflib.get_close_matches(str(word), sorted(set(map(str, choices))), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def shown(value) -> str:
    """repr(value) cut to a readable length: a var may hold a long string or a huge integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + "..." + text[-10:]


def fmt_shape(shape) -> str:
    """Shapes as people write them: 16x5x5, T x 256 when a dim is symbolic."""
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    items = [str(d) for d in shape]
    sep = " x " if any(not isinstance(d, int) for d in shape) else "x"
    return sep.join(items)


class UserError(Exception):
    """A fault in what the user gave besides the spec (a data file, a checkpoint): exit 1, one line."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message + (f"; {hint}" if hint else ""))


class UsageError(Exception):
    """Bad command-line usage: exit 2."""
