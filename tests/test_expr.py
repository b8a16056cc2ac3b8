"""The safe `${...}` evaluator: arithmetic, precedence, types, errors, and no way out to Python."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netspec.expr import ExprError, evaluate, parse_literal, substitute

VARS = {"w": 6, "classes": 10, "rate": 0.5, "name": "conv", "flag": True}


@pytest.mark.parametrize("text,value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 3 ** 2", 512), ("-2 ** 2", -4), ("(-2) ** 2", 4),
    ("7 // 2", 3), ("-7 // 2", -4), ("7 % 3", 1), ("7 / 2", 3.5), ("8 / 2", 4), ("10 - 2 - 3", 5),
    ("w * 2", 12), ("(classes + 5) * 3", 45), ("w * rate", 3.0), ("max(w, 8)", 8), ("min(1, 2, 3)", 1),
    ("abs(-3)", 3), ("int(7.9)", 7), ("round(2.5)", 2), ("float(w)", 6.0), ("+w", 6), ("--w", 6),
    ("1e3", 1000.0), ("1.5e-1", 0.15), (".5", 0.5), ("  w  ", 6),
])
def test_arithmetic_and_precedence(text, value):
    result = evaluate(text, VARS)
    assert result == value
    assert type(result) is type(value)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(1, 50))
def test_agrees_with_integer_arithmetic(a, b, c):
    variables = {"a": a, "b": b, "c": c}
    assert evaluate("a + b * c", variables) == a + b * c
    assert evaluate("(a - b) // c", variables) == (a - b) // c
    assert evaluate("a % c - -b", variables) == a % c + b


def test_substitute_keeps_types_and_interpolates():
    assert substitute("${w}", VARS) == 6
    assert substitute("${rate}", VARS) == 0.5
    assert substitute("${flag}", VARS) is True
    assert substitute("${name}_${w * 2}", VARS) == "conv_12"
    assert substitute("block${w / 2}", VARS) == "block3"


@pytest.mark.parametrize("text,message", [
    ("widht * 2", "undefined var 'widht'"),
    ("w *", "incomplete expression"),
    ("(w + 1", "expected ')'"),
    ("w w", "unexpected 'w'"),
    ("1 / 0", "division by zero"),
    ("w // 0", "division by zero"),
    ("10 ** 100", "exponent 100 is too large"),
    ("10 ** 20", "result out of range"),
    ("name * 2", "needs numbers"),
    ("flag + 1", "needs numbers"),
    ("", "empty expression"),
    ("sqrt(4)", "unknown function 'sqrt'"),
    ("max()", "bad call max"),
])
def test_errors(text, message):
    with pytest.raises(ExprError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        evaluate(text, VARS)


@pytest.mark.parametrize("text,message", [
    ("w.__class__", "attribute access is not allowed"),
    ("().__class__.__bases__", "attribute access is not allowed"),
    ("__import__('os')", "strings are not allowed"),
    ("eval(\"1\")", "strings are not allowed"),
    ("open(w)", "unknown function 'open'"),
    ("exec(w)", "unknown function 'exec'"),
    ("w[0]", "indexing is not allowed"),
    ("w == 6", "not allowed"),
    ("lambda: 1", "unexpected character ':'"),
    ("__builtins__", "undefined var '__builtins__'"),
])
def test_no_way_out_to_python(text, message):
    with pytest.raises(ExprError, match=message):
        evaluate(text, VARS)


def test_nesting_and_length_are_bounded():
    with pytest.raises(ExprError, match="nested deeper"):
        evaluate("(" * 200 + "1" + ")" * 200, {})
    with pytest.raises(ExprError, match="too many signs"):
        evaluate("-" * 400 + "1", {})
    with pytest.raises(ExprError, match="longer than"):
        evaluate("1 + " * 200 + "1", {})


def test_unclosed_placeholder():
    with pytest.raises(ExprError, match="unclosed"):
        substitute("conv${w", VARS)


@pytest.mark.parametrize("text,value", [("8", 8), ("0.5", 0.5), ("true", True), ("False", False),
                                        ("relu", "relu"), ("1e-3", 0.001)])
def test_set_literals(text, value):
    assert parse_literal(text) == value
    assert type(parse_literal(text)) is type(value)


@pytest.mark.parametrize("text,variables,message", [
    ("int(1e999)", {}, "number 1e999 in '${int(1e999)}' is out of range"),
    ("1e300 ** 2", {}, "result out of range"),
    ("big / 3", {"big": 10 ** 400}, "needs a finite number within about 1.8e308, found an integer of 1329 bits"),
    ("big / 3", {"big": 10 ** 300}, "result out of range"),
    ("round(x)", {"x": float("inf")}, "'round' needs a finite number"),
    ("int(x)", {"x": float("nan")}, "'int' needs a finite number"),
    ("round(5, -100000000)", {}, "round(x, digits) takes an integer number of digits from -32 to 32"),
    ("round(5, 0.5)", {}, "round(x, digits) takes an integer number of digits"),
    ("1e308 // 1e-308", {}, "result is not finite"),
    ("(-8) ** 0.5", {}, "result out of range"),
    ("1" * 401, {}, "is out of range (beyond about 1.8e308)"),
])
def test_every_function_and_operator_is_bounded(text, variables, message):
    import time
    start = time.perf_counter()
    with pytest.raises(ExprError) as info:
        evaluate(text, variables)
    assert message in str(info.value)
    assert time.perf_counter() - start < 1.0


def test_interpolated_strings_are_bounded():
    assert substitute("${a}${a}", {"a": "x" * 4000}) == "x" * 8000
    with pytest.raises(ExprError, match="an interpolated string grows past 10,000 characters"):
        substitute("${a}${a}${a}", {"a": "x" * 4000})
    with pytest.raises(ExprError, match="grows past 10,000 characters"):
        evaluate("a + a + a", {"a": "x" * 4000})
    with pytest.raises(ExprError, match="too long to interpolate"):
        substitute("n${a}", {"a": 10 ** 100})


def test_attributes_refuse_huge_and_non_finite_numbers():
    from compiler.registry import MAX_INT, Attr, AttrError
    probability, slope = Attr("p", "prob", 0.5), Attr("slope", "float", 0.01, min=0.0)
    for attr, value, message in [
            (probability, 10 ** 400, "'p' must be a finite number, found an integer of 1329 bits"),
            (slope, 10 ** 400, "'slope' must be a finite number"), (slope, float("inf"), "found inf"),
            (slope, float("nan"), "found nan"), (Attr("k", "float", 2.0), -float("inf"), "found -inf"),
            (Attr("stride", "int", 1, min=1), 99999999999999999999,
             f"'stride' must be an integer of at most {MAX_INT:,}, found 99999999999999999999"),
            (Attr("units", "int", None, min=1), 2.0 ** 40, "must be an integer of at most"),
            (Attr("units", "int", 8, min=1), None, "'units' needs a value, found null")]:
        with pytest.raises(AttrError, match=message.replace("(", r"\(")):
            attr.coerce(value)
    assert Attr("eps", "float", None).coerce(None) is None   # null for an optional attribute means its default
    assert Attr("stride", "int", 1).coerce(MAX_INT) == MAX_INT
