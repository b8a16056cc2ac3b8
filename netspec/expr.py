"""A small, safe evaluator for `${...}` expressions in specs (never `eval`).

Grammar: numbers, names, parentheses, unary +/-, binary + - * / // % **, and calls of
min, max, abs, int, float, round. `"${w}"` alone yields w's value with its type;
`"conv${i}"` interpolates into a string.
"""
from __future__ import annotations

import math
import re
import sys

from .errors import did_you_mean, shown

_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)|(\d+)"
                    r"|([A-Za-z_][A-Za-z_0-9]*)|(\*\*|//|[-+*/%(),]))")
_FUNCTIONS = {"min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
MAX_EXPR_LEN = 500
MAX_RESULT = 10 ** 12          # bound on what arithmetic and functions produce
MAX_OPERAND = sys.float_info.max   # bound on what enters them (a float's range; bigger ints are refused)
MAX_ROUND_DIGITS = 32
MAX_STRING = 10_000            # characters in one interpolated string
MAX_NESTING = 32
_FORBIDDEN = {".": "attribute access is not allowed in expressions",
              "[": "indexing is not allowed in expressions",
              "'": "strings are not allowed in expressions", '"': "strings are not allowed in expressions",
              "=": "assignment and comparison are not allowed in expressions",
              "<": "comparisons are not allowed in expressions", ">": "comparisons are not allowed in expressions"}


class ExprError(ValueError):
    """A fault in an expression: bad syntax, unknown name or bad arithmetic."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class _Fault:
    """The value of a var whose own definition was faulty (and reported): using it is a silent fault."""

    def __repr__(self) -> str:
        return "<faulty>"


FAULT = _Fault()


class FaultyVar(ExprError):
    """An expression used a var whose fault is already reported: report nothing more."""


def _tokenize(text: str) -> list:
    tokens, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match:
            char = text[at:].strip()[:1]
            if char in _FORBIDDEN:
                raise ExprError(f"{_FORBIDDEN[char]}: {char!r} in '${{{text}}}'",
                                "use numbers, vars, + - * / // % ** and min, max, abs, int, float, round")
            raise ExprError(f"unexpected character {char!r} in '${{{text}}}'")
        at = match.end()
        floating, integer, name, op = match.groups()
        if floating is not None or integer is not None:
            literal = floating or integer
            number = float(literal) if floating is not None else int(literal) if len(literal) <= 400 else math.inf
            if not abs(number) <= MAX_OPERAND:
                raise ExprError(f"number {literal[:12]}{'...' if len(literal) > 12 else ''} in '${{{text}}}' "
                                "is out of range (beyond about 1.8e308)")
            tokens.append(("num", number))
        elif name is not None:
            tokens.append(("name", name))
        else:
            tokens.append(("op", op))
    return tokens


class _Parser:
    def __init__(self, text: str, variables: dict):
        self.text, self.vars = text, variables
        self.tokens = _tokenize(text)
        self.at = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def expect(self, op: str) -> None:
        kind, value = self.take()
        if (kind, value) != ("op", op):
            raise ExprError(f"expected '{op}' in '${{{self.text}}}'")

    def parse(self):
        if not self.tokens:
            raise ExprError("empty expression '${}'")
        value = self.expression(0)
        if self.at != len(self.tokens):
            raise ExprError(f"unexpected '{self.peek()[1]}' in '${{{self.text}}}'")
        return value

    def expression(self, min_prec: int):
        left = self.unary()
        while True:
            kind, op = self.peek()
            if kind != "op" or op not in _PRECEDENCE or _PRECEDENCE[op] < min_prec:
                return left
            self.take()
            prec = _PRECEDENCE[op]
            right = self.expression(prec if op == "**" else prec + 1)
            left = self.apply(op, left, right)

    def unary(self):
        kind, value = self.peek()
        if (kind, value) in (("op", "-"), ("op", "+")):
            self.take()
            self.depth += 1
            if self.depth > MAX_NESTING * 2:
                raise ExprError(f"too many signs in a row in '${{{self.text}}}'")
            operand = self.unary()
            self.depth -= 1
            self.need_number(operand, value)
            return -operand if value == "-" else operand
        return self.power_operand()

    def power_operand(self):
        base = self.atom()
        kind, value = self.peek()
        if (kind, value) == ("op", "**"):
            self.take()
            return self.apply("**", base, self.unary())
        return base

    def atom(self):
        kind, value = self.take()
        if kind == "num":
            return value
        if kind == "name":
            if self.peek() == ("op", "("):
                return self.call(value)
            if value not in self.vars:
                raise ExprError(f"undefined var '{value}' in '${{{self.text}}}'",
                                did_you_mean(value, self.vars) or "define it under 'vars:' or pass --set "
                                f"{value}=...")
            if self.vars[value] is FAULT:
                raise FaultyVar(value)
            return self.vars[value]
        if (kind, value) == ("op", "("):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ExprError(f"parentheses nested deeper than {MAX_NESTING} levels in an expression")
            inner = self.expression(0)
            self.expect(")")
            self.depth -= 1
            return inner
        raise ExprError(f"incomplete expression '${{{self.text}}}'")

    def call(self, name: str):
        if name not in _FUNCTIONS:
            raise ExprError(f"unknown function '{name}' in '${{{self.text}}}'",
                            "available: " + ", ".join(sorted(_FUNCTIONS)))
        self.expect("(")
        args = []
        if self.peek() != ("op", ")"):
            args.append(self.expression(0))
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expression(0))
        self.expect(")")
        for arg in args:
            self.need_number(arg, name)
        if name == "round" and len(args) == 2 and (not isinstance(args[1], int) or
                                                   abs(args[1]) > MAX_ROUND_DIGITS):
            raise ExprError(f"round(x, digits) takes an integer number of digits from -{MAX_ROUND_DIGITS} to "
                            f"{MAX_ROUND_DIGITS}, found {args[1]!r} in '${{{self.text}}}'")
        try:
            result = _FUNCTIONS[name](*args)
        except (TypeError, ValueError) as exc:
            raise ExprError(f"bad call {name}(...) in '${{{self.text}}}': {exc}") from None
        return self.in_range(result)

    def need_number(self, value, op) -> None:
        """A number that arithmetic may use: not a bool or string, finite and within a float's range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExprError(f"'{op}' needs numbers, found {type(value).__name__} {shown(value)} "
                            f"in '${{{self.text}}}'")
        if not (abs(value) <= MAX_OPERAND):   # also refuses nan
            raise ExprError(f"'{op}' needs a finite number within about 1.8e308, found {shown(value)} "
                            f"in '${{{self.text}}}'")

    def in_range(self, result):
        if isinstance(result, float) and not math.isfinite(result):
            raise ExprError(f"result is not finite in '${{{self.text}}}'")
        if isinstance(result, complex) or abs(result) > MAX_RESULT:
            raise ExprError(f"result out of range in '${{{self.text}}}'")
        return result

    def apply(self, op: str, left, right):
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return _bounded(left + right)
        self.need_number(left, op)
        self.need_number(right, op)
        try:
            if op == "**" and abs(right) > 64:
                raise ExprError(f"exponent {right} is too large in '${{{self.text}}}'")
            result = {
                "+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
                "/": lambda: left / right, "//": lambda: left // right, "%": lambda: left % right,
                "**": lambda: left ** right,
            }[op]()
        except ZeroDivisionError:
            raise ExprError(f"division by zero in '${{{self.text}}}'") from None
        except OverflowError:
            raise ExprError(f"result out of range in '${{{self.text}}}'") from None
        self.in_range(result)
        if op == "/" and isinstance(result, float) and result.is_integer() and \
                isinstance(left, int) and isinstance(right, int):
            result = int(result)
        return result


def evaluate(text: str, variables: dict):
    """Evaluate one expression (the inside of `${...}`)."""
    if len(text) > MAX_EXPR_LEN:
        raise ExprError(f"expression longer than {MAX_EXPR_LEN} characters")
    return _Parser(text, variables).parse()


def has_placeholder(value) -> bool:
    return isinstance(value, str) and "${" in value


def substitute(value: str, variables: dict):
    """Replace `${...}` in a string; a string that is one placeholder keeps the value's type."""
    whole = _PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return evaluate(whole.group(1), variables)
    if value.count("${") != len(_PLACEHOLDER.findall(value)):
        raise ExprError(f"unclosed '${{' in {shown(value)}", "close it with '}'")
    parts, size, at = [], 0, 0
    for match in _PLACEHOLDER.finditer(value):
        for part in (value[at:match.start()], _format(evaluate(match.group(1), variables))):
            size += len(part)
            if size > MAX_STRING:
                raise _too_long()
            parts.append(part)
        at = match.end()
    parts.append(value[at:])
    return _bounded("".join(parts))


def _bounded(text: str) -> str:
    """`text` when it stays within MAX_STRING characters."""
    if len(text) > MAX_STRING:
        raise _too_long()
    return text


def _too_long() -> ExprError:
    return ExprError(f"an interpolated string grows past {MAX_STRING:,} characters",
                     "vars build names and paths; keep them short")


def _format(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and value.bit_length() > 128:
        raise ExprError(f"{shown(value)} is too long to interpolate into a string")
    return str(value)


def parse_literal(text: str):
    """Parse a --set value: int, float, bool, or string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
