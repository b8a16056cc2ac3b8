"""NumPy-backend training throughput against PyTorch on the CPU, in the same run, same threads, same batch.

    python benchmarks/bench_numpy.py [--threads 2] [--seconds 3] [--json]

Workloads: LeNet-5 (specs/lenet5.yaml, 1x28x28, batch 64), the MLP 784-500-500-2000-10 (batch 64) and an
LSTM 64 -> 256 over 35 steps (last step classified, batch 32), all with SGD momentum on random data.
Both sides start from the same weights and do forward + loss + backward + update per step; PyTorch runs
the code netspec generates (backends.torch.build_model). Each side is timed for --seconds after a warm-up,
alternating twice, and the better rate of each is kept. Goals: >= 1.0x PyTorch on LeNet-5 and the MLP,
>= 0.7x on the LSTM.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MLP = """name: mlp_784_500_500_2000_10
input: {shape: [1, 28, 28]}
layers:
  - flatten
  - {type: linear, units: 500, activation: relu}
  - {type: linear, units: 500, activation: relu}
  - {type: linear, units: 2000, activation: relu}
  - {type: linear, units: 10}
train: {optimizer: {type: sgd, lr: 0.01, momentum: 0.9}, batch_size: 64}
"""
LSTM = """name: lstm_64_256_t35
input: {shape: [35, 64]}
layers:
  - {type: lstm, hidden: 256}
  - {type: linear, units: 10}
train: {optimizer: {type: sgd, lr: 0.01, momentum: 0.9}, batch_size: 32}
"""
GOALS = {"lenet5": 1.0, "mlp 784-500-500-2000-10": 1.0, "lstm 64-256 x35": 0.7}


def _graph(text_or_path: str):
    from netspec import load_graph
    if text_or_path.endswith(".yaml"):
        return load_graph(text_or_path)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text_or_path)
    try:
        return load_graph(handle.name)
    finally:
        os.unlink(handle.name)


def _batches(graph, batch: int, count: int = 8):
    import numpy as np
    rng = np.random.default_rng(0)
    shape = tuple(graph[graph.inputs[0]].shape)
    return [(rng.random((batch, *shape), dtype=np.float32), rng.integers(0, 10, batch)) for _ in range(count)]


def _rate(step, batches, batch: int, seconds: float, clock=time.perf_counter) -> float:
    for x, y in batches[:3]:           # warm-up (JIT compilation, buffer allocation)
        step(x, y)
    done, start = 0, clock()
    while clock() - start < seconds:
        x, y = batches[done % len(batches)]
        step(x, y)
        done += 1
    return done * batch / (clock() - start)


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
        _, _, grads = model.train_step(x, y)
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
    parser.add_argument("--threads", type=int, default=2, help="threads for both sides (default 2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per side and round")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or this process's CPU time (steadier on a loaded machine; "
                             "with --threads 1 it is the single core's time)")
    parser.add_argument("--only", help="run one workload (lenet5, mlp, lstm)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    import numpy as np
    import torch

    import backends.numpy as numpy_backend
    from backends.runtime import init_state
    torch.set_num_threads(args.threads)
    numpy_backend.set_threads(args.threads)
    workloads = [("lenet5", os.path.join(ROOT, "specs", "lenet5.yaml"), 64),
                 ("mlp 784-500-500-2000-10", MLP, 64), ("lstm 64-256 x35", LSTM, 32)]
    rows = []
    for name, source, batch in workloads:
        if args.only and not name.startswith(args.only):
            continue
        graph = _graph(source)
        state = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in init_state(graph, 0).items()}
        batches = _batches(graph, batch)
        steppers = {"numpy": numpy_stepper(graph, state), "torch": torch_stepper(graph, state)}
        rates = {side: 0.0 for side in steppers}
        for _ in range(2):
            for side, step in steppers.items():
                clock = time.process_time if args.clock == "cpu" else time.perf_counter
                rates[side] = max(rates[side], _rate(step, batches, batch, args.seconds, clock))
        ratio = rates["numpy"] / rates["torch"]
        rows.append({"workload": name, "batch": batch, "numpy_samples_per_s": round(rates["numpy"], 1),
                     "torch_samples_per_s": round(rates["torch"], 1), "ratio": round(ratio, 3),
                     "goal": GOALS[name]})
        if not args.json:
            print(f"{name:<26} batch {batch:>3}: numpy {rates['numpy']:>9,.0f}/s  torch {rates['torch']:>9,.0f}/s  "
                  f"ratio {ratio:.2f}x (goal {GOALS[name]}x)", flush=True)
    if args.json:
        print(json.dumps({"threads": args.threads, "clock": args.clock, "torch": torch.__version__,
                          "results": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
