"""Tensor dimensions: plain ints, or symbolic dims (`T`, `T+1`) that flow through inference."""
from __future__ import annotations


class Sym:
    """A symbolic dimension: an integer-linear combination of named sizes.

    Non-linear results (e.g. a strided conv over `T`) become opaque named terms such
    as `(T-4)//2+1`, so a shape is always printable and comparable.
    """

    __slots__ = ("const", "terms")

    def __init__(self, terms: dict | str, const: int = 0):
        if isinstance(terms, str):
            terms = {terms: 1}
        self.terms = {k: v for k, v in sorted(terms.items()) if v}
        self.const = const

    @staticmethod
    def make(terms: dict, const: int):
        clean = {k: v for k, v in terms.items() if v}
        return Sym(clean, const) if clean else const

    def __add__(self, other):
        if isinstance(other, Sym):
            terms = dict(self.terms)
            for key, value in other.terms.items():
                terms[key] = terms.get(key, 0) + value
            return Sym.make(terms, self.const + other.const)
        return Sym.make(dict(self.terms), self.const + int(other))

    __radd__ = __add__

    def __neg__(self):
        return Sym.make({k: -v for k, v in self.terms.items()}, -self.const)

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if isinstance(other, Sym):
            return Sym(f"({self})*({other})")
        return Sym.make({k: v * int(other) for k, v in self.terms.items()}, self.const * int(other))

    __rmul__ = __mul__

    def __floordiv__(self, other):
        other = int(other)
        if other == 1:
            return self
        if all(v % other == 0 for v in self.terms.values()) and self.const % other == 0:
            return Sym.make({k: v // other for k, v in self.terms.items()}, self.const // other)
        return Sym(f"({self})//{other}")

    def __eq__(self, other):
        return isinstance(other, Sym) and self.terms == other.terms and self.const == other.const

    def __hash__(self):
        return hash((tuple(self.terms.items()), self.const))

    def __str__(self):
        parts = []
        for key, coeff in self.terms.items():
            term = key if coeff == 1 else f"-{key}" if coeff == -1 else f"{coeff}*{key}"
            parts.append(term if not parts or term.startswith("-") else "+" + term)
        if self.const:
            parts.append(f"{self.const:+d}")
        return "".join(parts) or "0"

    __repr__ = __str__

    def value(self, bindings: dict | None = None) -> int:
        """A concrete size, symbols bound from `bindings` (unbound symbols count as 1)."""
        bindings = bindings or {}
        total = self.const
        for key, coeff in self.terms.items():
            total += coeff * int(bindings.get(key, 1)) if key.isidentifier() else coeff
        return max(total, 1)


Dim = int | Sym
Shape = tuple


def is_symbolic(dim) -> bool:
    return isinstance(dim, Sym)


def concrete(dim, bindings: dict | None = None) -> int:
    return dim.value(bindings) if isinstance(dim, Sym) else int(dim)


def numel(shape, bindings: dict | None = None) -> int:
    """Element count of a per-sample shape; symbolic dims count as their binding (default 1)."""
    count = 1
    for dim in shape:
        count *= dim if type(dim) is int else concrete(dim, bindings)
    return count


def shape_json(shape) -> list:
    """Shapes for JSON: ints stay ints, symbolic dims become strings."""
    return [d if isinstance(d, int) else str(d) for d in shape]


def parse_dim(value):
    """A dim as written in a spec: positive int, or an identifier naming a symbolic size."""
    if isinstance(value, bool):
        raise ValueError("a dimension must be a positive int or a symbol name such as T")  # noqa: TRY004
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isidentifier():
        return Sym(value)
    raise ValueError("a dimension must be a positive int or a symbol name such as T")
