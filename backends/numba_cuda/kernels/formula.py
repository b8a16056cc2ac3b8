"""One fused elementwise kernel for `expr` formulas: a small stack machine runs the formula's compiled program.

A formula tree (netspec/formula.py) compiles to postfix code (`compile_programs`): pairs (opcode, operand)
and a table of float32 constants, built from the parsed tree only, never from user text. The kernel
`_run` evaluates several programs over one broadcast shape in a single launch (the forward: the formula;
the backward: grad * d formula / d input for every input that needs a gradient), reading each input through
strides that are 0 on its broadcast axes. Inputs are packed into one flat buffer first.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from ..device import F0, F1, empty, grid1d, launch, to_device
from .broadcast import aligned_shape
from .elementwise import flat, sigmoid

STACK = 48
OPCODES = {name: code for code, name in enumerate((
    "num", "var", "neg", "+", "-", "*", "/", "**", "<", ">", "<=", ">=", "==", "!=", "sigmoid", "tanh", "relu",
    "exp", "log", "sqrt", "abs", "sign", "minimum", "maximum", "clip", "where"))}


class FormulaTooDeep(ValueError):
    """A formula whose evaluation needs more than STACK values at once."""


def compile_programs(trees: list, names: list) -> tuple:
    """(code int32 [n, 2], starts int32 [programs + 1], constants float32) of trees over inputs `names`."""
    code, constants, starts = [], [], [0]
    for tree in trees:
        depth = _emit(tree, names, code, constants)
        if depth > STACK:
            raise FormulaTooDeep(f"the formula needs {depth} stack slots, more than the {STACK} this kernel has")
        starts.append(len(code))
    return (np.array(code, dtype=np.int32).reshape(-1, 2), np.array(starts, dtype=np.int32),
            np.array(constants or [0.0], dtype=np.float32))


def _emit(tree, names, code, constants) -> int:
    """Append a tree's postfix code; return the stack depth it needs."""
    op = tree[0]
    if op == "num":
        constants.append(tree[1])
        code.append((OPCODES["num"], len(constants) - 1))
        return 1
    if op == "var":
        code.append((OPCODES["var"], names.index(tree[1])))
        return 1
    depth = 0
    for slot, child in enumerate(tree[1:]):
        depth = max(depth, slot + _emit(child, names, code, constants))
    code.append((OPCODES[op], 0))
    return depth


@cuda.jit(device=True)
def _unary(code, a):
    if code == 2:
        return -a
    if code == 14:
        return sigmoid(a)
    if code == 15:
        return math.tanh(a)
    if code == 16:
        return max(a, F0)
    if code == 17:
        return math.exp(a)
    if code == 18:
        return math.log(a)
    if code == 19:
        return math.sqrt(a)
    if code == 20:
        return abs(a)
    return F1 if a > F0 else (-F1 if a < F0 else F0)


@cuda.jit(device=True)
def _binary(code, a, b):
    if code == 3:
        return a + b
    if code == 4:
        return a - b
    if code == 5:
        return a * b
    if code == 6:
        return a / b
    if code == 7:
        return a ** b
    if code == 8:
        return F1 if a < b else F0
    if code == 9:
        return F1 if a > b else F0
    if code == 10:
        return F1 if a <= b else F0
    if code == 11:
        return F1 if a >= b else F0
    if code == 12:
        return F1 if a == b else F0
    if code == 13:
        return F1 if a != b else F0
    if code == 22:
        return min(a, b)
    return max(a, b)


@cuda.jit(cache=True)
def _run(code, starts, constants, data, offsets, strides, shape, out, size):
    """out[p * size + j] = program p at element j of `shape` (programs: starts[p] to starts[p + 1])."""
    stack = cuda.local.array(STACK, float32)
    i = cuda.grid(1)
    rank = shape.size
    while i < out.size:
        p = i // size
        j = i % size
        top = 0
        for at in range(starts[p], starts[p + 1]):
            op = code[at, 0]
            if op == 0:
                stack[top] = constants[code[at, 1]]
                top += 1
            elif op == 1:
                k = code[at, 1]
                rest = j
                index = offsets[k]
                for axis in range(rank - 1, -1, -1):
                    index += (rest % shape[axis]) * strides[k, axis]
                    rest //= shape[axis]
                stack[top] = data[index]
                top += 1
            elif op == 24:
                top -= 2
                stack[top - 1] = min(max(stack[top - 1], stack[top]), stack[top + 1])
            elif op == 25:
                top -= 2
                stack[top - 1] = stack[top] if stack[top - 1] != F0 else stack[top + 1]
            elif op == 2 or 14 <= op <= 21:
                stack[top - 1] = _unary(op, stack[top - 1])
            else:
                top -= 1
                stack[top - 1] = _binary(op, stack[top - 1], stack[top])
        out[i] = stack[0]
        i += cuda.gridsize(1)


@cuda.jit(cache=True)
def _place(src, dst, offset):
    i = cuda.grid(1)
    while i < src.size:
        dst[offset + i] = src[i]
        i += cuda.gridsize(1)


_PROGRAMS: dict = {}


def _device_program(trees: tuple, names: tuple) -> tuple:
    """The compiled programs on the device, compiled and uploaded once per formula."""
    key = (trees, names)
    found = _PROGRAMS.get(key)
    if found is None:
        found = _PROGRAMS[key] = tuple(to_device(a, a.dtype) for a in compile_programs(list(trees), list(names)))
    return found


def run(trees: tuple, names: tuple, inputs: list, shape: tuple):
    """Every program's value over the batched broadcast `shape`, as one array [programs, *shape]."""
    rank = len(shape)
    sizes = [x.size for x in inputs]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    data = empty(int(sum(sizes)))
    for x, offset in zip(inputs, offsets):
        launch(_place, grid1d(x.size), flat(x), data, int(offset))
    strides = np.zeros((len(inputs), rank), dtype=np.int64)
    for k, x in enumerate(inputs):
        step = 1
        aligned = aligned_shape(tuple(x.shape), rank)
        for axis in range(rank - 1, -1, -1):
            strides[k, axis] = step if aligned[axis] != 1 else 0
            step *= aligned[axis]
    code, starts, constants = _device_program(trees, names)
    size = int(np.prod(shape))
    out = empty((len(trees), *shape))
    launch(_run, grid1d(out.size), code, starts, constants, data, to_device(offsets, np.int64),
           to_device(strides, np.int64), to_device(np.array(shape, dtype=np.int64), np.int64), flat(out), size)
    return out


__all__ = ["FormulaTooDeep", "compile_programs", "run"]
