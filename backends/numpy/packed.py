"""Bit-packed inference for binary layers: +-1 values as bits, 64 per uint64 word, products by XNOR and popcount.

A row of +-1 values packs to sign bits (1 for +1); where a row may hold zeros (a convolution's padding), a second
plane marks the valid positions. The dot product of a packed input row with a packed weight row is then
valid - 2 * popcount((x xor w) & valid): integers, so equal to the float32 product of the same +-1 values
(exact below 2^24 terms). A linear layer followed by batchnorm and binarize (inference) folds into one range per
output channel (backends/runtime/binary_fold.py): `xnor_threshold_pack` (popcounts of a packed layer) and
`threshold_pack` (float outputs) write the packed bits of the next layer's input directly (PackedRows). Numba
compiles the loops (nogil: the backend's threads split the rows, as for BLAS), with LLVM's ctpop for popcount;
the folded products, the hot loop of binary inference, run on 256-bit vectors (`_xor_popcounts_2x2`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, value):
    """LLVM's ctpop on a uint64 (one POPCNT instruction on x86-64)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


_BYTES = ir.VectorType(ir.IntType(8), 32)        # one 256-bit vector: 4 words
_SHORTS = ir.VectorType(ir.IntType(16), 32)
# per call at most this many pairs of vectors: each byte lane then holds at most 2 * 8 * 15 + 8 = 248
MAX_VECTOR_PAIRS = 15


@intrinsic
def _xor_popcounts_2x2(typingctx, addresses, pairs):
    """(c00, c01, c10, c11): c_rc = popcount(x_r xor w_c) over 8 * pairs words from the word addresses
    (x_0, x_1, w_0, w_1), pairs <= MAX_VECTOR_PAIRS. Vector code LLVM lowers for the CPU (AVX2: byte lookups
    by pshufb): each pair of vectors goes through a carry-save adder (ones, twos), so one vector popcount
    serves two vectors, and the byte counts are summed once per call."""
    signature = types.UniTuple(types.int64, 4)(types.UniTuple(types.intp, 4), types.intp)

    def codegen(context, builder, sig, args):
        module = builder.module
        popcount = cgutils.get_or_insert_function(module, ir.FunctionType(_BYTES, [_BYTES]), "llvm.ctpop.v32i8")
        total = cgutils.get_or_insert_function(module, ir.FunctionType(ir.IntType(16), [_SHORTS]),
                                               "llvm.vector.reduce.add.v32i16")
        rows = [builder.inttoptr(a, _BYTES.as_pointer()) for a in cgutils.unpack_tuple(builder, args[0], 4)]
        ones = [cgutils.alloca_once_value(builder, ir.Constant(_BYTES, None)) for _ in range(4)]
        twos = [cgutils.alloca_once_value(builder, ir.Constant(_BYTES, None)) for _ in range(4)]
        with cgutils.for_range(builder, args[1]) as loop:
            first = builder.shl(loop.index, ir.Constant(loop.index.type, 1))
            second = builder.add(first, ir.Constant(loop.index.type, 1))
            v0 = [builder.load(builder.gep(row, [first]), align=8) for row in rows]
            v1 = [builder.load(builder.gep(row, [second]), align=8) for row in rows]
            for q, (r, c) in enumerate(((0, 2), (0, 3), (1, 2), (1, 3))):
                a, b = builder.xor(v0[r], v0[c]), builder.xor(v1[r], v1[c])
                low = builder.load(ones[q])
                half = builder.xor(low, a)
                carry = builder.or_(builder.and_(low, a), builder.and_(half, b))
                builder.store(builder.xor(half, b), ones[q])
                builder.store(builder.add(builder.load(twos[q]), builder.call(popcount, [carry])), twos[q])
        counts = []
        for q in range(4):
            lanes = builder.add(builder.shl(builder.load(twos[q]), ir.Constant(_BYTES, [1] * 32)),
                                builder.call(popcount, [builder.load(ones[q])]))
            counts.append(builder.zext(builder.call(total, [builder.zext(lanes, _SHORTS)]), ir.IntType(64)))
        return context.make_tuple(builder, sig.return_type, counts)
    return signature, codegen


@njit(cache=True, nogil=True)
def _binarize(x, out):
    for i in range(x.size):
        out[i] = 1.0 if x[i] >= 0 else -1.0


def binarize(x: np.ndarray) -> np.ndarray:
    """BIN(x): +1 where x >= 0, else -1, in a new array of x's dtype (one Numba pass)."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _binarize(x.reshape(-1), out.reshape(-1))
    return out


class PackedRows(NamedTuple):
    """A batch of +-1 rows of length k as sign bits (n, words_for(k)) uint64, as `pack` makes them."""
    signs: np.ndarray
    k: int


def words_for(k: int) -> int:
    return -(-k // 64)


@njit(cache=True, nogil=True)
def _pack(a, signs, valid, masked):
    rows, k = a.shape
    words = signs.shape[1]
    for r in range(rows):
        for w in range(words):
            base = w * 64
            sign_bits, valid_bits = np.uint64(0), np.uint64(0)
            for b in range(min(64, k - base)):
                v = a[r, base + b]
                sign_bits |= np.uint64(v > 0) << np.uint64(b)
                if masked:
                    valid_bits |= np.uint64(v != 0) << np.uint64(b)
            signs[r, w] = sign_bits
            if masked:
                valid[r, w] = valid_bits


def pack(a: np.ndarray, masked: bool = False) -> tuple:
    """(sign words, valid words or None) of a 2-D array of +-1 (and, masked, 0) values, one row per row."""
    a = np.ascontiguousarray(a)
    words = words_for(a.shape[1])
    signs = np.zeros((a.shape[0], words), dtype=np.uint64)
    valid = np.zeros((a.shape[0], words), dtype=np.uint64) if masked else np.zeros((1, 1), dtype=np.uint64)
    _pack(a, signs, valid, masked)
    return signs, (valid if masked else None)


@njit(cache=True, nogil=True)
def _differences_2x2(xs, ws, i, i1, j, j1):
    """popcount(xs[r] xor ws[c]) for r in (i, i1), c in (j, j1) (rows C-contiguous): whole pairs of 256-bit
    vectors by `_xor_popcounts_2x2`, the last words one by one."""
    words = xs.shape[1]
    vector_words = words // 8 * 8
    x_base, w_base = xs.ctypes.data, ws.ctypes.data
    a00, a01, a10, a11 = 0, 0, 0, 0
    for start in range(0, vector_words, 8 * MAX_VECTOR_PAIRS):
        pairs = min(MAX_VECTOR_PAIRS, (vector_words - start) // 8)
        c00, c01, c10, c11 = _xor_popcounts_2x2(
            (x_base + (i * words + start) * 8, x_base + (i1 * words + start) * 8,
             w_base + (j * words + start) * 8, w_base + (j1 * words + start) * 8), pairs)
        a00, a01, a10, a11 = a00 + c00, a01 + c01, a10 + c10, a11 + c11
    for w in range(vector_words, words):
        u0, u1, v0, v1 = xs[i, w], xs[i1, w], ws[j, w], ws[j1, w]
        a00 += _popcount(u0 ^ v0)
        a01 += _popcount(u0 ^ v1)
        a10 += _popcount(u1 ^ v0)
        a11 += _popcount(u1 ^ v1)
    return a00, a01, a10, a11


@njit(cache=True, nogil=True)
def _xnor_gemm(xs, xv, ws, k, masked, out):
    n, words = xs.shape
    m = ws.shape[0]
    if not masked:                           # 2 weight rows x 2 input rows per pass (an odd last one repeats)
        for f in range(0, m, 2):
            f1 = min(f + 1, m - 1)
            for i in range(0, n, 2):
                i1 = min(i + 1, n - 1)
                a00, a01, a10, a11 = _differences_2x2(xs, ws, i, i1, f, f1)
                out[i, f], out[i, f1] = k - 2 * a00, k - 2 * a01
                out[i1, f], out[i1, f1] = k - 2 * a10, k - 2 * a11
        return
    counts = np.zeros(n, dtype=np.int64)         # the valid positions of each row
    for i in range(n):
        for w in range(words):
            counts[i] += _popcount(xv[i, w])
    for f in range(m):
        wrow = ws[f]
        for i in range(n):
            acc = np.uint64(0)
            for w in range(words):
                acc += _popcount((xs[i, w] ^ wrow[w]) & xv[i, w])
            out[i, f] = counts[i] - 2 * np.int64(acc)


def xnor_matmul(x_packed: tuple, w_signs: np.ndarray, k: int, out: np.ndarray, split=None) -> np.ndarray:
    """out = x @ w.T for +-1 rows packed by `pack` (x: (n, k) values, w: (m, k)); out is (n, m). split(fn, m,
    work), where given, runs fn(lo, hi) over slices of the weight rows (the backend's threads)."""
    xs, xv = x_packed
    xs, w_signs = np.ascontiguousarray(xs), np.ascontiguousarray(w_signs)     # rows read by address
    masked = xv is not None
    xv = xv if masked else xs[:1, :1]

    def rows(lo, hi):
        _xnor_gemm(xs, xv, w_signs[lo:hi], k, masked, out[:, lo:hi])
    if split is None:
        rows(0, len(w_signs))
    else:
        split(rows, len(w_signs), out.size * xs.shape[1])
    return out


@njit(cache=True, nogil=True)
def _xnor_threshold(xs, ws, low, high, out_words, out):
    """Bits of output words out_words.. (channel c of ws is bit c % 64 of word out_words + c // 64): each word's 64
    weight rows (32 KB at 4096 inputs: in L1) against every pair of input rows, its bits gathered in registers."""
    n, m = len(xs), len(ws)
    for c0 in range(0, m, 64):
        c_end = min(c0 + 64, m)
        word = out_words + c0 // 64
        for i in range(0, n, 2):
            i1 = min(i + 1, n - 1)               # an odd last row (or channel) repeats: the same bits again
            bits0, bits1 = np.uint64(0), np.uint64(0)
            for j in range(c0, c_end, 2):        # 2 weight rows x 2 input rows per pass
                j1 = min(j + 1, c_end - 1)
                a00, a01, a10, a11 = _differences_2x2(xs, ws, i, i1, j, j1)
                bit0, bit1 = np.uint64(1) << np.uint64(j - c0), np.uint64(1) << np.uint64(j1 - c0)
                if low[j] <= a00 <= high[j]:
                    bits0 |= bit0
                if low[j1] <= a01 <= high[j1]:
                    bits0 |= bit1
                if low[j] <= a10 <= high[j]:
                    bits1 |= bit0
                if low[j1] <= a11 <= high[j1]:
                    bits1 |= bit1
            out[i, word] = bits0
            out[i1, word] = bits1


def xnor_threshold_pack(x_signs: np.ndarray, w_signs: np.ndarray, low: np.ndarray, high: np.ndarray,
                        split=None) -> PackedRows:
    """The packed +-1 rows whose bit f is set where lo[f] <= popcount(x xor w[f]) <= high[f] (the number of
    positions where x and weight row f differ), for x's packed rows; split as for `xnor_matmul`, over whole
    64-channel words so that threads never share one."""
    m = len(w_signs)
    x_signs, w_signs = np.ascontiguousarray(x_signs), np.ascontiguousarray(w_signs)   # rows read by address
    out = np.empty((len(x_signs), words_for(m)), dtype=np.uint64)       # the kernel writes every word

    def channels(lo, hi):
        f0, f1 = lo * 64, min(hi * 64, m)
        _xnor_threshold(x_signs, w_signs[f0:f1], low[f0:f1], high[f0:f1], lo, out)
    if split is None:
        channels(0, out.shape[1])
    else:
        split(channels, out.shape[1], len(x_signs) * m * x_signs.shape[1])
    return PackedRows(out, m)


@njit(cache=True, nogil=True)
def _threshold_pack(y, low, high, bound, out, outside):
    n, m = y.shape
    for i in range(n):
        for w in range(out.shape[1]):
            bits = np.uint64(0)
            for b in range(min(64, m - w * 64)):
                f = w * 64 + b
                v = y[i, f]
                if not abs(v) <= bound:
                    outside[i] = True
                if low[f] <= v <= high[f]:
                    bits |= np.uint64(1) << np.uint64(b)
            out[i, w] = bits


def threshold_pack(y: np.ndarray, low: np.ndarray, high: np.ndarray, bound, exact) -> PackedRows:
    """The packed +-1 rows that are +1 where low[f] <= y[:, f] <= high[f], for float rows y; a row with a value
    beyond +-bound or a NaN is packed from exact(its rows) (True for +1) instead."""
    y = np.ascontiguousarray(y)
    out = np.empty((len(y), words_for(y.shape[1])), dtype=np.uint64)
    outside = np.zeros(len(y), dtype=np.bool_)
    _threshold_pack(y, low, high, y.dtype.type(bound), out, outside)
    if outside.any():
        out[outside] = pack(np.where(exact(y[outside]), 1.0, -1.0))[0]
    return PackedRows(out, y.shape[1])
