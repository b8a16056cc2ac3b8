"""Bit-packed inference for binary layers: +-1 values as bits, 64 per uint64 word, products by XNOR and popcount.

A row of +-1 values packs to sign bits (1 for +1); where a row may hold zeros (a convolution's padding), a second
plane marks the valid positions. The dot product of a packed input row with a packed weight row is then
valid - 2 * popcount((x xor w) & valid): integers, so equal to the float32 product of the same +-1 values
(exact below 2^24 terms). `xnor_matmul` computes them on 256-bit vectors (`_xor_popcounts_2x2`). A linear layer
followed by batchnorm and binarize (inference) folds into one range per output channel
(backends/runtime/binary_fold.py): `xnor_threshold_pack` (a packed layer, its weights transposed by
`slice_weights` so that 256 channels are the lanes of a vector: bit-sliced sums over each row's +1 or -1 inputs,
whichever are fewer) and `threshold_pack` (float outputs) write the packed bits of the next layer's input
directly (PackedRows). Numba compiles the loops (nogil: the backend's threads split the work, as for BLAS), with
LLVM's ctpop and cttz.
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


_LANES = ir.VectorType(ir.IntType(64), 4)     # one 256-bit vector: 256 channels, one bit each
SLICE_LEVELS = 5                               # a carry-save tree adds 2^5 = 32 rows at a time
TILE = 256                                     # channels per tile: the bits of one vector


@intrinsic
def _trailing_zeros(typingctx, value):
    """LLVM's cttz on a nonzero uint64 (one TZCNT)."""
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))
    return types.uint64(types.uint64), codegen


@intrinsic
def _sliced_sum(typingctx, positions, count, tile, planes, depth):
    """planes += the sum of the `count` 256-bit rows positions[j] (int32) of the tile, bit-sliced:
    plane p (4 words at planes + 32 p, `depth` of them, depth > SLICE_LEVELS) holds bit p of each lane's sum.
    A Harley-Seal tree of carry-save adders takes 32 rows at a time (the last ones masked), its low planes in
    registers; the carry out of the tree ripples into the planes above."""
    signature = types.void(types.intp, types.intp, types.intp, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        positions_at, count, tile_at, planes_at, depth = args
        i64 = ir.IntType(64)
        group = 1 << SLICE_LEVELS
        positions = builder.inttoptr(positions_at, ir.IntType(32).as_pointer())
        tile = builder.inttoptr(tile_at, _LANES.as_pointer())
        planes = builder.inttoptr(planes_at, _LANES.as_pointer())
        low = [cgutils.alloca_once_value(builder, builder.load(builder.gep(planes, [ir.Constant(i64, p)]), align=8))
               for p in range(SLICE_LEVELS)]

        def carry_save(running, a, b):         # one xor deep on the running plane, the loop-carried chain
            half = builder.xor(a, b)
            return builder.xor(half, running), builder.or_(builder.and_(a, b), builder.and_(half, running))

        def add_group(first, rows):
            """Add the rows positions[first + j], j < rows (a Value; the rest count as zero)."""
            vectors = []
            for j in range(group):
                inside = builder.icmp_signed("<", ir.Constant(i64, j), rows)
                at = builder.select(inside, builder.add(first, ir.Constant(i64, j)), first)
                row = builder.load(builder.gep(tile, [builder.sext(builder.load(builder.gep(positions, [at])), i64)]),
                                   align=8)
                vectors.append(row if isinstance(rows, ir.Constant) else
                               builder.select(inside, row, ir.Constant(_LANES, None)))
            current = [builder.load(slot) for slot in low]

            def tree(rows_):                   # the carry of weight len(rows_) out of adding rows_ in
                level = len(rows_).bit_length() - 2
                a, b = rows_ if len(rows_) == 2 else (tree(rows_[:len(rows_) // 2]), tree(rows_[len(rows_) // 2:]))
                current[level], carry = carry_save(current[level], a, b)
                return carry
            carry = cgutils.alloca_once_value(builder, tree(vectors))
            for slot, value in zip(low, current):
                builder.store(value, slot)
            with cgutils.for_range(builder, builder.sub(depth, ir.Constant(i64, SLICE_LEVELS))) as ripple:
                plane = builder.gep(planes, [builder.add(ripple.index, ir.Constant(i64, SLICE_LEVELS))])
                bits, incoming = builder.load(plane, align=8), builder.load(carry)
                builder.store(builder.xor(bits, incoming), plane, align=8)
                builder.store(builder.and_(bits, incoming), carry)

        whole = builder.sdiv(count, ir.Constant(i64, group))
        with cgutils.for_range(builder, whole) as loop:
            add_group(builder.mul(loop.index, ir.Constant(i64, group)), ir.Constant(i64, group))
        rest = builder.sub(count, builder.mul(whole, ir.Constant(i64, group)))
        with builder.if_then(builder.icmp_signed(">", rest, ir.Constant(i64, 0))):
            add_group(builder.mul(whole, ir.Constant(i64, group)), rest)
        for p, slot in enumerate(low):
            builder.store(builder.load(slot), builder.gep(planes, [ir.Constant(i64, p)]), align=8)
        return context.get_dummy_value()
    return signature, codegen


@intrinsic
def _in_ranges(typingctx, sums, weights, lows, highs, valid, depth, plus, out):
    """out (4 words) = valid & (lows <= differ <= highs), lane by lane, for differ = (T + plus) - 2S when plus
    >= 0 (sums S over the row's +1 inputs), else (2Z + p) - T with p = -1 - plus (sums Z over its -1 inputs);
    T: weights. All bit-sliced, `depth` planes of 4 words at each address, in one pass from the lowest plane:
    the sum with the row's constant and the difference by ripple carries, the comparisons by the highest plane
    that differs."""
    signature = types.void(types.intp, types.intp, types.intp, types.intp, types.intp, types.intp, types.int64,
                           types.intp)

    def codegen(context, builder, sig, args):
        sums_at, weights_at, lows_at, highs_at, valid_at, depth, plus, out_at = args
        i64 = ir.IntType(64)
        sums, weights, lows, highs, valid, out = (builder.inttoptr(a, _LANES.as_pointer()) for a in (
            sums_at, weights_at, lows_at, highs_at, valid_at, out_at))
        zero, ones = ir.Constant(_LANES, None), ir.Constant(_LANES, [-1] * 4)
        use_ones = builder.icmp_signed(">=", plus, ir.Constant(i64, 0))
        constant = builder.select(use_ones, plus, builder.sub(ir.Constant(i64, -1), plus))
        slots = {name: cgutils.alloca_once_value(builder, value) for name, value in (
            ("add", zero), ("sub", ones), ("at_least", ones), ("at_most", ones))}
        with cgutils.for_range(builder, depth) as loop:
            p = loop.index
            below = builder.sub(p, ir.Constant(i64, 1))
            positive = builder.icmp_signed(">", p, ir.Constant(i64, 0))   # plane p of 2S: plane p - 1 of S
            doubled = builder.select(positive, builder.load(builder.gep(sums, [builder.select(positive, below, p)]),
                                                            align=8), zero)
            weight = builder.load(builder.gep(weights, [p]), align=8)
            a = builder.select(use_ones, weight, doubled)
            b = builder.xor(builder.select(use_ones, doubled, weight), ones)       # subtracting: add ~b, carry 1
            bit = builder.trunc(builder.lshr(constant, p), ir.IntType(1))
            c = builder.select(bit, ones, zero)
            add, sub = builder.load(slots["add"]), builder.load(slots["sub"])
            a_c = builder.xor(a, c)
            total = builder.xor(a_c, add)
            builder.store(builder.or_(builder.and_(a, c), builder.and_(add, a_c)), slots["add"])
            t_b = builder.xor(total, b)
            differ = builder.xor(t_b, sub)
            builder.store(builder.or_(builder.and_(total, b), builder.and_(sub, t_b)), slots["sub"])
            for name, bounds in (("at_least", lows), ("at_most", highs)):
                bound = builder.load(builder.gep(bounds, [p]), align=8)
                same = builder.xor(builder.xor(differ, bound), ones)
                above, below = builder.and_(differ, builder.xor(bound, ones)), builder.and_(builder.xor(differ, ones), bound)
                wins = above if name == "at_least" else below        # this plane decides where the bits differ
                builder.store(builder.or_(wins, builder.and_(same, builder.load(slots[name]))), slots[name])
        result = builder.and_(builder.and_(builder.load(slots["at_least"]), builder.load(slots["at_most"])),
                              builder.load(valid, align=8))
        builder.store(result, out, align=8)
        return context.get_dummy_value()
    return signature, codegen


class SlicedWeights(NamedTuple):
    """A packable layer's +-1 weights (m, k), transposed for `xnor_threshold_pack`: bit c % 64 of word
    (c % 256) // 64 in row j of tile c // 256 is the sign bit of weight (c, j); counts[t]: the number of +1
    weights of each of tile t's channels, bit-sliced (plane p, 4 words: bit p of each lane's count)."""
    tiles: np.ndarray          # (ceil(m / 256), k, 4) uint64
    counts: np.ndarray         # (ceil(m / 256), sliced_depth(k), 4) uint64
    k: int
    m: int

    @property
    def nbytes(self) -> int:
        return self.tiles.nbytes + self.counts.nbytes

    def __len__(self) -> int:
        return self.m


def sliced_depth(k: int) -> int:
    """The bit planes of the bit-sliced counts for rows of k inputs: the kernel's operands reach 2k."""
    return max((2 * k).bit_length(), SLICE_LEVELS + 1)


@njit(cache=True, nogil=True)
def _transpose(signs, k, tiles, counts):
    for c in range(len(signs)):
        tile, word, bit = c // TILE, (c % TILE) // 64, np.uint64(1) << np.uint64(c % 64)
        total = 0
        for w in range(signs.shape[1]):
            bits = signs[c, w]
            while bits:
                j = w * 64 + np.int64(_trailing_zeros(bits))
                bits &= bits - np.uint64(1)
                if j < k:
                    tiles[tile, j, word] |= bit
                    total += 1
        counts[c] = total


def slice_weights(signs: np.ndarray, k: int) -> SlicedWeights:
    """SlicedWeights of +-1 rows of length k packed by `pack` (one row per output channel)."""
    tiles = np.zeros((-(-len(signs) // TILE), k, 4), dtype=np.uint64)
    totals = np.zeros(len(signs), dtype=np.int64)
    _transpose(np.ascontiguousarray(signs), k, tiles, totals)
    depth = sliced_depth(k)
    counts = np.zeros((len(tiles), depth, 4), dtype=np.uint64)
    for t in range(len(tiles)):
        _lane_planes(totals, t * TILE, (1 << depth) - 1, counts[t])
    return SlicedWeights(tiles, counts, k, len(signs))


@njit(cache=True, nogil=True)
def _positions(xs, k, first, last, positions, lengths, ones):
    """For rows first..last-1: positions[i, :lengths[i]], the positions of the row's +1 inputs, or of its -1
    inputs where those are fewer; ones[i]: its number of +1 inputs, or -1 minus it where
    the -1 inputs were taken."""
    words = xs.shape[1]
    tail = (np.uint64(1) << np.uint64(k % 64)) - np.uint64(1) if k % 64 else ~np.uint64(0)
    for i in range(first, last):
        plus = 0
        for w in range(words):
            plus += np.int64(_popcount(xs[i, w]))
        use_ones = 2 * plus <= k
        count = 0
        for w in range(words):
            bits = xs[i, w] if use_ones else ~xs[i, w]
            if w == words - 1:
                bits &= tail
            while bits:
                positions[i, count] = w * 64 + np.int64(_trailing_zeros(bits))
                bits &= bits - np.uint64(1)
                count += 1
        lengths[i], ones[i] = count, plus if use_ones else -1 - plus


@njit(cache=True, nogil=True)
def _lane_planes(values, first, top, planes):
    """planes[p] = bit p of values[first + lane] (clamped to 0..top) for the 256 lanes that exist."""
    planes[:] = 0
    for lane in range(min(TILE, len(values) - first)):
        v = min(max(np.int64(values[first + lane]), 0), top)
        word, bit = lane // 64, np.uint64(1) << np.uint64(lane % 64)
        while v:
            planes[np.int64(_trailing_zeros(np.uint64(v))), word] |= bit
            v &= v - 1


@njit(cache=True, nogil=True)
def _sliced_threshold(positions, lengths, ones, tiles, counts, k, m, low, high, first, last, out):
    """Words 4t..4t+3 of `out` for tiles first..last-1 (see xnor_threshold_pack)."""
    depth = counts.shape[1]
    top = (np.int64(1) << depth) - 1
    lows, highs, sums = (np.zeros((depth, 4), dtype=np.uint64), np.zeros((depth, 4), dtype=np.uint64),
                         np.zeros((depth, 4), dtype=np.uint64))
    valid, bits = np.zeros(4, dtype=np.uint64), np.zeros(4, dtype=np.uint64)
    for t in range(first, last):
        c0, weights = t * TILE, counts[t]
        _lane_planes(low, c0, top, lows)
        _lane_planes(high, c0, top, highs)
        valid[:] = 0
        for lane in range(min(TILE, m - c0)):
            if max(low[c0 + lane], 0) <= min(high[c0 + lane], k):    # some count 0..k is in the range
                valid[lane // 64] |= np.uint64(1) << np.uint64(lane % 64)
        for i in range(len(lengths)):
            sums[:] = 0
            _sliced_sum(positions[i].ctypes.data, lengths[i], tiles[t].ctypes.data, sums.ctypes.data, depth)
            _in_ranges(sums.ctypes.data, weights.ctypes.data, lows.ctypes.data, highs.ctypes.data, valid.ctypes.data,
                       depth, ones[i], bits.ctypes.data)
            for word in range(min(4, out.shape[1] - 4 * t)):
                out[i, 4 * t + word] = bits[word]


def xnor_threshold_pack(x_signs: np.ndarray, weights: SlicedWeights, low: np.ndarray, high: np.ndarray,
                        split=None) -> PackedRows:
    """The packed +-1 rows whose bit f is set where low[f] <= popcount(x xor w[f]) <= high[f] (the number of
    positions where x and weight row f differ), for x's packed rows and weights sliced by `slice_weights`.

    Each tile's 256 channels are the lanes of 256-bit vectors: a row's count for all of them is a bit-sliced
    sum of the weight rows (tile rows) at the row's +1 inputs, S (or at its -1 inputs, Z, where those are
    fewer: half the rows or less), and differ = T + plus - 2S = 2Z + plus - T with T the channel's +1 weights
    and plus the row's +1 inputs, then compared with the ranges, all bit-sliced. split as for `xnor_matmul`,
    over rows for the positions and over whole tiles for the sums."""
    x_signs = np.ascontiguousarray(x_signs)
    n, k, m = len(x_signs), weights.k, len(weights)
    positions = np.empty((n, k // 2 + 1), dtype=np.int32)     # k < 2^31 (8 GB of float weights per channel)
    lengths, ones = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    out = np.empty((n, words_for(m)), dtype=np.uint64)        # every word is written

    def rows(lo, hi):
        _positions(x_signs, k, lo, hi, positions, lengths, ones)

    def tiles(lo, hi):
        _sliced_threshold(positions, lengths, ones, weights.tiles, weights.counts, k, m, low, high, lo, hi, out)
    if split is None:
        rows(0, n)
        tiles(0, len(weights.tiles))
    else:
        split(rows, n, 25 * n * k)       # finding an input's position takes about 25 multiply-adds' time
        split(tiles, len(weights.tiles), n * m * x_signs.shape[1])
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
