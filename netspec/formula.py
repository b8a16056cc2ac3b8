"""Elementwise formulas of an `expr` layer: a small safe parser into a tree, and the tree's derivatives.

A formula (`"(1 - z) * n + z * h"`) is parsed once into nested tuples, never evaluated by Python:

    ("num", 2.0)  ("var", "z")  ("neg", x)  ("+" | "-" | "*" | "/" | "**", a, b)
    (function, *args) for the FUNCTIONS below; ("<" | ">" | "<=" | ">=" | "==" | "!=", a, b): 1 where true, else 0

Comparisons are written only as the condition of `where(cond, a, b)` (any other condition means `cond != 0`);
the derivatives use them, and `sign`, internally. Subtrees with numbers only are folded while parsing. Equal
subtrees are equal tuples, so evaluators that memoise on the tuple compute a shared subexpression once.
Backends evaluate trees (NumPy), print them (PyTorch) or compile them (Numba-CUDA).
"""
from __future__ import annotations

import functools
import math
import re

from .errors import did_you_mean

FUNCTIONS = {"sigmoid": 1, "tanh": 1, "relu": 1, "exp": 1, "log": 1, "sqrt": 1, "abs": 1,
             "minimum": 2, "maximum": 2, "clip": 3, "where": 3}
INTERNAL = ("sign",)
BINARY = ("+", "-", "*", "/", "**")
COMPARISONS = ("<", ">", "<=", ">=", "==", "!=")
MAX_LENGTH = 2000
MAX_NESTING = 24
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z_0-9]*)"
                    r"|(\*\*|<=|>=|==|!=|[-+*/(),<>]))")
HELP = "use input names, numbers, + - * / **, and " + ", ".join(FUNCTIONS)


class FormulaError(ValueError):
    """A fault in a formula: what is wrong and at which character, with a hint."""

    def __init__(self, message: str, hint: str | None = HELP):
        super().__init__(message)
        self.hint = hint


@functools.lru_cache(maxsize=512)
def parse(text: str) -> tuple:
    """The tree of a formula (cached: every use of one formula shares one parse)."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the formula is empty", "write e.g. 'formula: a * sigmoid(b)'")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters")
    return _Parser(text).parse()


def variables(tree: tuple) -> list:
    """The input names a tree reads, in order of first use."""
    out: dict = {}

    def walk(node):
        if node[0] == "var":
            out[node[1]] = True
        elif node[0] != "num":
            for child in node[1:]:
                if isinstance(child, tuple):
                    walk(child)
    walk(tree)
    return list(out)


def constant(node) -> float | None:
    return node[1] if node[0] == "num" else None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = self.tokenize(text)
        self.at = 0
        self.depth = 0

    def fail(self, message: str, at: int | None = None, hint: str | None = HELP):
        where = self.tokens[self.at][2] if at is None and self.at < len(self.tokens) else \
            len(self.text) if at is None else at
        raise FormulaError(f"{message} at character {where + 1} of formula '{self.text}'", hint)

    def tokenize(self, text: str) -> list:
        tokens, at = [], 0
        end = len(text.rstrip())
        while at < end:
            match = _TOKEN.match(text, at)
            if not match:
                start = at + len(text[at:]) - len(text[at:].lstrip())
                char = text[start]
                self.tokens = tokens
                raise FormulaError(f"unexpected {char!r} at character {start + 1} of formula '{text}'")
            number, name, op = match.groups()
            start = match.start(1 if number else 2 if name else 3)
            if number is not None:
                value = float(number)
                if not math.isfinite(value):
                    raise FormulaError(f"number {number[:12]} at character {start + 1} of formula '{text}' is "
                                       "out of range")
                tokens.append(("num", value, start))
            elif name is not None:
                tokens.append(("name", name, start))
            else:
                tokens.append(("op", op, start))
            at = match.end()
        return tokens

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None, len(self.text))

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def expect(self, op: str) -> None:
        if self.peek()[:2] != ("op", op):
            self.fail(f"expected '{op}'")
        self.take()

    def parse(self) -> tuple:
        tree = self.expression(0)
        if self.at != len(self.tokens):
            self.fail(f"unexpected '{self.peek()[1]}'")
        return tree

    def nest(self):
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"the formula nests deeper than {MAX_NESTING} levels", hint="split it over several expr layers")

    def expression(self, min_prec: int) -> tuple:
        left = self.unary()
        while True:
            kind, op, _ = self.peek()
            if kind != "op" or op not in _PRECEDENCE or _PRECEDENCE[op] < min_prec:
                return left
            self.take()
            left = binary(op, left, self.expression(_PRECEDENCE[op] + 1))

    def unary(self) -> tuple:
        if self.peek()[:2] in (("op", "-"), ("op", "+")):
            sign = self.take()[1]
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return neg(operand) if sign == "-" else operand
        base = self.atom()
        if self.peek()[:2] == ("op", "**"):        # binds tighter than a sign on its left, right-associative
            self.take()
            self.nest()
            exponent = self.unary()
            self.depth -= 1
            return binary("**", base, exponent)
        return base

    def atom(self) -> tuple:
        kind, value, start = self.take()
        if kind == "num":
            return ("num", value)
        if kind == "name":
            if self.peek()[:2] == ("op", "("):
                return self.call(value, start)
            if value in FUNCTIONS:
                self.fail(f"'{value}' is a function: call it, e.g. '{value}(x)'", start)
            return ("var", value)
        if (kind, value) == ("op", "("):
            self.nest()
            inner = self.expression(0)
            self.expect(")")
            self.depth -= 1
            return inner
        if kind is None:
            self.fail("the formula ends too early", len(self.text))
        self.fail(f"unexpected '{value}'", start)

    def call(self, name: str, start: int) -> tuple:
        if name not in FUNCTIONS:
            self.fail(f"unknown function '{name}'", start, did_you_mean(name, FUNCTIONS) or HELP)
        self.take()
        self.nest()
        args = [self.condition() if name == "where" else self.expression(0)]
        while self.peek()[:2] == ("op", ","):
            self.take()
            args.append(self.expression(0))
        self.expect(")")
        self.depth -= 1
        if len(args) != FUNCTIONS[name]:
            self.fail(f"{name}() takes {FUNCTIONS[name]} argument(s), found {len(args)}", start)
        if name == "clip" and (constant(args[1]) is None or constant(args[2]) is None):
            self.fail("clip(x, low, high) takes numbers as its bounds", start, "e.g. 'clip(x, -1, 1)'")
        try:
            return function(name, *args)
        except (ValueError, OverflowError, ZeroDivisionError):
            self.fail(f"{name}() of these numbers is undefined", start)

    def condition(self) -> tuple:
        """where's first argument: an expression, or a comparison of two."""
        left = self.expression(0)
        kind, op, _ = self.peek()
        if kind == "op" and op in COMPARISONS:
            self.take()
            return binary(op, left, self.expression(0))
        return left


# ---- tree constructors (fold numbers, drop zeros and ones) --------------------------------------

def num(value: float) -> tuple:
    return ("num", float(value))


ZERO, ONE = num(0.0), num(1.0)


def neg(a: tuple) -> tuple:
    if a[0] == "num":
        return num(-a[1])
    return a[1] if a[0] == "neg" else ("neg", a)


def binary(op: str, a: tuple, b: tuple) -> tuple:
    if a[0] == "num" and b[0] == "num":
        return num(_fold(op, a[1], b[1]))
    if op == "+":
        return b if a == ZERO else a if b == ZERO else (op, a, b)
    if op == "-":
        return neg(b) if a == ZERO else a if b == ZERO else (op, a, b)
    if op == "*":
        if ZERO in (a, b):
            return ZERO
        return b if a == ONE else a if b == ONE else (op, a, b)
    if op == "/":
        return ZERO if a == ZERO else a if b == ONE else (op, a, b)
    if op == "**" and b == ONE:
        return a
    return (op, a, b)


def function(name: str, *args) -> tuple:
    if all(a[0] == "num" for a in args):
        return num(_fold(name, *(a[1] for a in args)))
    if name == "where" and args[1] == args[2]:
        return args[1]
    return (name, *args)


def _fold(op: str, *values: float) -> float:
    a = values[0]
    b = values[1] if len(values) > 1 else None
    table = {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b, "**": lambda: a ** b,
        "<": lambda: float(a < b), ">": lambda: float(a > b), "<=": lambda: float(a <= b),
        ">=": lambda: float(a >= b), "==": lambda: float(a == b), "!=": lambda: float(a != b),
        "sigmoid": lambda: 0.5 * (1.0 + math.tanh(0.5 * a)), "tanh": lambda: math.tanh(a),
        "relu": lambda: max(a, 0.0), "exp": lambda: math.exp(a), "log": lambda: math.log(a),
        "sqrt": lambda: math.sqrt(a), "abs": lambda: abs(a), "sign": lambda: float((a > 0) - (a < 0)),
        "minimum": lambda: min(a, b), "maximum": lambda: max(a, b),
        "clip": lambda: min(max(a, b), values[2]), "where": lambda: b if a != 0 else values[2],
    }
    value = table[op]()
    if isinstance(value, complex) or not math.isfinite(value):
        raise ValueError(f"{op} gives {value}")
    return float(value)


# ---- derivatives ------------------------------------------------------------------------------

def derivative(tree: tuple, name: str) -> tuple:
    """d tree / d name, as a tree (PyTorch's conventions at kinks: relu'(0) = 0, abs'(0) = 0, clip passes
    the gradient where low <= x <= high, minimum/maximum split it at ties, or follow clamp against a number)."""
    return _Derive(name).d(tree)


class _Derive:
    def __init__(self, name: str):
        self.name = name
        self.memo: dict = {}

    def d(self, t: tuple) -> tuple:
        found = self.memo.get(t)
        if found is None:
            found = self.memo[t] = self.rule(t)
        return found

    def rule(self, t: tuple) -> tuple:
        op = t[0]
        if op == "num" or op in COMPARISONS or op == "sign":
            return ZERO
        if op == "var":
            return ONE if t[1] == self.name else ZERO
        if op == "neg":
            return neg(self.d(t[1]))
        if op == "where":
            da, db = self.d(t[2]), self.d(t[3])
            return ZERO if da == db == ZERO else function("where", t[1], da, db)
        a = t[1]
        da = self.d(a)
        mul, add, div = (lambda x, y: binary("*", x, y)), (lambda x, y: binary("+", x, y)), \
            (lambda x, y: binary("/", x, y))
        if op in ("+", "-"):
            return binary(op, da, self.d(t[2]))
        if op == "*":
            return add(mul(da, t[2]), mul(a, self.d(t[2])))
        if op == "/":
            b = t[2]
            return div(binary("-", da, mul(t, self.d(b))), b)
        if op == "**":
            b = t[2]
            db = self.d(b)
            out = mul(mul(b, binary("**", a, binary("-", b, ONE))), da) if da != ZERO else ZERO
            return add(out, mul(mul(t, function("log", a)), db)) if db != ZERO else out
        if op in ("minimum", "maximum"):
            return self.extreme(t)
        if op == "clip":
            inside = mul(binary(">=", a, t[2]), binary("<=", a, t[3]))
            return mul(da, inside)
        local = {"sigmoid": lambda: mul(t, binary("-", ONE, t)),
                 "tanh": lambda: binary("-", ONE, mul(t, t)),
                 "relu": lambda: binary(">", a, ZERO),
                 "exp": lambda: t,
                 "log": lambda: div(ONE, a),
                 "sqrt": lambda: div(num(0.5), t),
                 "abs": lambda: function("sign", a)}[op]()
        return mul(da, local)

    def extreme(self, t: tuple) -> tuple:
        op, a, b = t
        mul, add = (lambda x, y: binary("*", x, y)), (lambda x, y: binary("+", x, y))
        wins = ">" if op == "maximum" else "<"
        if b[0] == "num":      # against a number: like torch.clamp, the input keeps the gradient at the bound
            return mul(self.d(a), binary(wins + "=", a, b))
        if a[0] == "num":
            return mul(self.d(b), binary(wins + "=", b, a))
        half_tie = mul(num(0.5), binary("==", a, b))
        return add(mul(self.d(a), add(binary(wins, a, b), half_tie)),
                   mul(self.d(b), add(binary(wins, b, a), half_tie)))


def show(tree: tuple) -> str:
    """A tree written back as a formula (diagram labels, messages)."""
    op = tree[0]
    if op == "num":
        value = tree[1]
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if op == "var":
        return tree[1]
    if op == "neg":
        return "-" + _wrap(tree[1], 3)
    if op in BINARY or op in COMPARISONS:
        prec = PRECEDENCE[op]
        left, right = (prec + 1, prec) if op == "**" else (prec, prec + 1)
        return f"{_wrap(tree[1], left)} {op} {_wrap(tree[2], right)}"
    return f"{op}({', '.join(show(arg) for arg in tree[1:])})"


PRECEDENCE = {**{op: 0 for op in COMPARISONS}, "+": 1, "-": 1, "*": 2, "/": 2, "**": 4}


def precedence(tree: tuple) -> int:
    """How tightly a tree's top binds when written (5: an atom or a call; 3: a sign; 4: a power)."""
    op = tree[0]
    if op == "num":
        return 3 if tree[1] < 0 else 5
    return 3 if op == "neg" else PRECEDENCE.get(op, 5)


def _wrap(tree: tuple, at_least: int) -> str:
    text = show(tree)
    return text if precedence(tree) >= at_least else f"({text})"
