"""NumPy-backend training throughput against PyTorch on the CPU, in the same run, same threads, same batch.

    python benchmarks/bench_numpy.py [--threads 1] [--seconds 2] [--repeats 5] [--only lstm] [--json]

Workloads: LeNet-5 (specs/lenet5.yaml, 1x28x28, batch 64), the MLP 784-500-500-2000-10 (batch 64) and an
LSTM 64 -> 256 over 35 steps (last step classified, batch 32), all with SGD momentum on random data. The LSTM
workload has a third side, the same LSTM written as a cell (benchmarks/specs/lstm_cell_64_256_t35.yaml, the
gates of specs/cells/lstm.yaml) on the NumPy backend, reported as its own row against the built-in layer.
Both sides start from the same weights and do forward + loss + backward + update per step; PyTorch runs
the code netspec generates (backends.torch.build_model). After a warm-up, the two sides alternate for
--repeats rounds of --seconds each; every round records both the wall-clock rate and the rate per second
of this process's CPU time (steadier when other jobs share the machine), and the table gives the median
of each with the ratio of the medians. The load average before and after goes into the JSON. Goals:
>= 1.0x PyTorch on LeNet-5, the MLP and the LSTM; the cell >= 0.5x the built-in LSTM on NumPy.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BENCH_SPECS = os.path.join(ROOT, "benchmarks", "specs")
MLP = os.path.join(BENCH_SPECS, "mlp_784_500_500_2000_10.yaml")
LSTM = os.path.join(BENCH_SPECS, "lstm_64_256_t35.yaml")
LSTM_CELL = os.path.join(BENCH_SPECS, "lstm_cell_64_256_t35.yaml")
GOALS = {"lenet5": 1.0, "mlp 784-500-500-2000-10": 1.0, "lstm 64-256 x35": 1.0, "lstm as a cell": 0.5}


def _graph(path: str):
    from netspec import load_graph
    return load_graph(path)


def _batches(graph, batch: int, count: int = 8):
    import numpy as np
    rng = np.random.default_rng(0)
    shape = tuple(graph[graph.inputs[0]].shape)
    return [(rng.random((batch, *shape), dtype=np.float32), rng.integers(0, 10, batch)) for _ in range(count)]


def _rates(step, batches, batch: int, seconds: float) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second of this process) over one timed window."""
    done, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        x, y = batches[done % len(batches)]
        step(x, y)
        done += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return done * batch / wall, done * batch / max(cpu, 1e-9)


def numpy_stepper(graph, state):
    import numpy as np

    import backends.numpy as numpy_backend
    from backends.runtime import Model
    from backends.runtime.optim import Optimizer
    from netspec.config import read_train
    ops = numpy_backend.make_ops("float32", np.random.default_rng(0))
    model = Model(graph, ops, state)
    trainable = [k for k, (_, t) in graph.state_layout().items() if t]
    optimizer = Optimizer(ops, read_train(graph.train).optimizer, trainable)

    def step(x, y):
        _loss, _outs, _labels, grads = model.train_step(x, y)
        optimizer.step(model.state, grads)
    return step


def torch_stepper(graph, state):
    import numpy as np
    import torch
    import torch.nn.functional as F

    from backends.torch import build_model
    model = build_model(graph)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    model.train()
    cfg = graph.train["optimizer"]
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])

    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for both sides (default 1)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per side and round")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds per workload (default 5)")
    parser.add_argument("--only", help="run one workload (lenet5, mlp, lstm)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    import statistics

    import numpy as np
    import torch

    import backends.numpy as numpy_backend
    from backends.runtime import init_state
    torch.set_num_threads(args.threads)
    numpy_backend.set_threads(args.threads)
    load_before = os.getloadavg()
    workloads = [("lenet5", os.path.join(ROOT, "specs", "lenet5.yaml"), 64, None),
                 ("mlp 784-500-500-2000-10", MLP, 64, None), ("lstm 64-256 x35", LSTM, 32, LSTM_CELL)]
    rows = []
    for name, source, batch, cell_source in workloads:
        if args.only and not name.startswith(args.only):
            continue
        graph = _graph(source)
        state = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in init_state(graph, 0).items()}
        batches = _batches(graph, batch)
        steppers = {"numpy": numpy_stepper(graph, state), "torch": torch_stepper(graph, state)}
        if cell_source:
            cell = _graph(cell_source)
            cell_state = {k: v.astype(np.float32) for k, v in init_state(cell, 0).items()}
            steppers["cell"] = numpy_stepper(cell, cell_state)
        for step in steppers.values():           # warm-up: JIT compilation, first allocations
            for x, y in batches[:3]:
                step(x, y)
        rates = {side: {"wall": [], "cpu": []} for side in steppers}
        for _ in range(args.repeats):
            for side, step in steppers.items():
                wall, cpu = _rates(step, batches, batch, args.seconds)
                rates[side]["wall"].append(wall)
                rates[side]["cpu"].append(cpu)
        pairs = [(name, "numpy", "torch")] + ([("lstm as a cell", "cell", "numpy")] if cell_source else [])
        for row_name, side, peer in pairs:
            row = {"workload": row_name, "batch": batch, "goal": GOALS[row_name], "side": side, "peer": peer}
            for clock in ("wall", "cpu"):
                ours, theirs = (statistics.median(rates[s][clock]) for s in (side, peer))
                row[clock] = {f"{side}_samples_per_s": round(ours, 1), f"{peer}_samples_per_s": round(theirs, 1),
                              "ratio": round(ours / theirs, 3)}
            rows.append(row)
            if not args.json:
                wall, cpu = row["wall"], row["cpu"]
                print(f"{row_name:<24} batch {batch:>3}: wall {side} {wall[f'{side}_samples_per_s']:>8,.0f}/s {peer} "
                      f"{wall[f'{peer}_samples_per_s']:>8,.0f}/s {wall['ratio']:.2f}x | cpu {side} "
                      f"{cpu[f'{side}_samples_per_s']:>8,.0f}/s {peer} {cpu[f'{peer}_samples_per_s']:>8,.0f}/s "
                      f"{cpu['ratio']:.2f}x (goal {GOALS[row_name]}x)", flush=True)
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"threads": args.threads, "seconds": args.seconds, "repeats": args.repeats,
                          "torch": torch.__version__, "loadavg_before": load_before, "loadavg_after": load_after,
                          "results": rows}))
    else:
        print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); medians of "
              f"{args.repeats} alternating rounds of {args.seconds:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
