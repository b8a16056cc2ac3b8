"""Bit-packed inference against float32 BLAS on the same binarised weights (issue 18).

    python benchmarks/bench_binary.py [--width 4096] [--rounds 5] [--seconds 1.5]

A binary MLP (784 real inputs -> `width` x 3 binary layers with batchnorm + binarize -> 10) runs `predict`'s
forward pass twice over, in the same process on the same weights: once as `netspec predict` runs it (the
binary layers that read +-1 inputs on bit-packed weights and activations, XNOR + popcount; a layer followed
by batchnorm + binarize, the float first one included, folds them into one range per channel and writes the next
layer's packed bits, the packed ones by bit-sliced sums over 256-channel tiles), once with those layers on
float32 BLAS products with the binarised weights made once beforehand and batchnorm and binarize as float
layers (the same Model, packing off). The first layer reads real inputs and is float in both. After a warm-up
the two alternate for `rounds` rounds of `seconds` each per batch size; the table gives the median rate of each
and the ratio of the medians, with the load average at the start and the end. Outputs are checked equal before
timing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from backends.numpy import make_ops, set_threads
from backends.runtime.init import init_state
from backends.runtime.model import Model
from netspec.api import load_graph

SPEC = """
name: binary_mlp_{width}
input: {{shape: [784]}}
layers:
  - {{type: linear, units: {width}, binary: true, bias: false}}
  - batchnorm
  - binarize
  - {{type: linear, units: {width}, binary: true, bias: false}}
  - batchnorm
  - binarize
  - {{type: linear, units: {width}, binary: true, bias: false}}
  - batchnorm
  - binarize
  - {{type: linear, units: 10, binary: true}}
"""


def rate(model, x, seconds: float) -> float:
    """Samples per second of model.forward on batch x, over at least `seconds`."""
    count, start = 0, time.perf_counter()
    while True:
        model.forward(x)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count * len(x) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    args = parser.parse_args()
    set_threads()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spec.yaml")
        with open(path, "w") as handle:
            handle.write(SPEC.format(width=args.width))
        graph = load_graph(path)
    state = init_state(graph, 0)
    packed = Model(graph, make_ops("float32"), state, frozen=True)
    plain = Model(graph, make_ops("float32"), state, frozen=True)
    plain.executor.packable, plain.executor.folds = set(), {}    # the same frozen model, float32 BLAS
    rng = np.random.default_rng(0)
    print(f"# binary MLP 784 -> {args.width} x 3 -> 10; packed layers: {sorted(packed.executor.packable)}, "
          f"with batchnorm + binarize folded in: {sorted(packed.executor.folds)}")
    rows = []
    for batch in args.batches:
        x = rng.random((batch, 784)).astype(np.float32)
        assert np.array_equal(packed.ops.to_numpy(packed.forward(x)), plain.ops.to_numpy(plain.forward(x)))
        rate(packed, x, 0.3), rate(plain, x, 0.3)              # warm-up (Numba compiles on the first call)
        packed_rates, plain_rates = [], []
        for _ in range(args.rounds):          # each side's thread plan, as `netspec predict` makes it alone
            packed.ops.plan(graph, packed.executor.packable)
            time.sleep(0.3)         # OpenBLAS's workers spin for a while after the float side's 2-thread products
            packed_rates.append(rate(packed, x, args.seconds))
            plain.ops.plan(graph, plain.executor.packable)
            plain_rates.append(rate(plain, x, args.seconds))
        p, f = statistics.median(packed_rates), statistics.median(plain_rates)
        rows.append((batch, p, f, p / f))
    # one width x width binary layer at batch 256, packed XNOR/popcount against float32 BLAS: its product alone
    # (packing the input included), and the folded layer (product, batchnorm, binarize) against the float one
    from backends.numpy.packed import pack, xnor_matmul, xnor_threshold_pack
    executor = packed.executor
    layer = next(n for n in graph.layers() if n.name in executor.folds and n.name in executor.packable)
    weight_bin, weight_sliced = executor.binary_cache[layer.name]
    weight_packed = pack(weight_bin)[0]
    low, high = executor.fold_cache[layer.name]
    norm = graph[executor.folds[layer.name][0]]
    x = np.where(rng.random((256, args.width)) >= 0.5, 1.0, -1.0).astype(np.float32)
    out = np.empty((256, args.width), dtype=np.float32)
    ops = packed.ops

    def float_layer():
        y = ops.forward("batchnorm", {"op": "batchnorm"}, [x @ weight_bin.T], executor.node_params(norm),
                        norm.attrs, False)
        return ops.forward("binarize", {"op": "binarize"}, [y], {}, {}, False)
    timings: dict = {"product packed": [], "product float": [], "folded packed": [], "folded float": []}
    for _ in range(args.rounds):
        for name, fn in (("product packed", lambda: xnor_matmul(pack(x), weight_packed, args.width, out,
                                                                  ops.over_threads)),
                         ("product float", lambda: x @ weight_bin.T),
                         ("folded packed", lambda: xnor_threshold_pack(pack(x)[0], weight_sliced, low, high,
                                                                       ops.over_threads)),
                         ("folded float", float_layer)):
            model = packed if "packed" in name else plain        # each side's thread plan, as in the passes
            model.ops.plan(graph, model.executor.packable)
            if model is packed:
                time.sleep(0.3)
            start = time.perf_counter()
            result = fn()
            timings[name].append(time.perf_counter() - start)
            if name == "product float":
                assert np.array_equal(out, result)
            elif name == "folded packed":
                folded = result
    assert np.array_equal(folded.signs, pack(float_layer())[0])
    medians = {name: statistics.median(values) for name, values in timings.items()}
    load_end = os.getloadavg()
    weights = [n for n in graph.layers() if n.name in packed.executor.packable]
    float_bytes = sum(int(np.prod(n.params[0].shape)) * 4 for n in weights)
    packed_bytes = sum(packed.executor.binary_cache[n.name][1].nbytes for n in weights)
    print("| batch | packed (samples/s) | float32 BLAS (samples/s) | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for batch, p, f, ratio in rows:
        print(f"| {batch} | {p:,.0f} | {f:,.0f} | {ratio:.2f}x |")
    print()
    for what, key in (("product (packing the input included)", "product"),
                      ("product + batchnorm + binarize (packed: folded, bits out)", "folded")):
        pp, pf = medians[f"{key} packed"], medians[f"{key} float"]
        print(f"one {args.width}x{args.width} binary layer at batch 256, {what}: packed {pp * 1e3:.1f} ms, "
              f"float32 BLAS {pf * 1e3:.1f} ms ({pf / pp:.1f}x)")
    print(f"weights of the packed layers: float32 {float_bytes / 2 ** 20:.2f} MiB, packed "
          f"{packed_bytes / 2 ** 20:.3f} MiB ({float_bytes / packed_bytes:.1f}x smaller)")
    print(f"load average (1, 5, 15 min) at start {tuple(round(v, 2) for v in load_start)}, "
          f"at end {tuple(round(v, 2) for v in load_end)}; {os.cpu_count()} CPUs; "
          f"rounds {args.rounds} x {args.seconds} s, interleaved, medians")
    return 0


if __name__ == "__main__":
    sys.exit(main())
