"""Training-step speed of generated PyTorch models against hand-written equivalents, in the same run.

    python benchmarks/bench_torch.py [--threads 1] [--rounds 9] [--steps 30]

For LeNet-5 (specs/lenet5.yaml) and the MLP 784-800-800-10 (specs/mlp.yaml) it builds the model from
`netspec compile --target torch` output and a hand-written PyTorch model of the same architecture, gives
both the same initial weights, the same batch (the spec's batch size), the same SGD-momentum optimizer and
the same thread count, and times full training steps (forward, cross-entropy, backward, update) in process
CPU time by default (--clock wall for elapsed time; with one thread the two agree on an idle machine, and CPU
time is far less disturbed by other jobs on a shared one). Rounds are
interleaved (the order alternates). Two figures: the ratio of each contender's best round, and the median
over rounds of the ratio of the two back-to-back timings of that round (paired, so that slow drifts in the
load of a shared machine cancel).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch
import torch.nn.functional as F
from torch import nn

from backends.torch import build_model
from netspec import load_graph
from netspec.config import read_train


class HandLeNet5(nn.Module):
    """LeNet-5 as one would write it by hand."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def hand_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 800), nn.ReLU(), nn.Dropout(0.5), nn.Linear(800, 800),
                         nn.ReLU(), nn.Dropout(0.5), nn.Linear(800, 10))


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def time_steps(model, optimizer, x, y, steps: int, clock=time.process_time) -> float:
    """Seconds per training step over `steps` steps."""
    start = clock()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (clock() - start) / steps


def compare(spec: str, hand: nn.Module, rounds: int, steps: int, clock) -> dict:
    graph = load_graph(os.path.join(ROOT, "specs", spec))
    cfg = read_train(graph.train)
    torch.manual_seed(0)
    generated = build_model(graph)
    with torch.no_grad():                       # same initial weights, parameter by parameter
        for mine, theirs in zip(hand.parameters(), generated.parameters(), strict=True):
            mine.copy_(theirs)
    batch = cfg.batch_size
    x = torch.rand(batch, *graph[graph.inputs[0]].shape)
    y = torch.randint(0, 10, (batch,))
    contenders = {}
    for name, model in (("generated", generated), ("hand-written", hand)):
        opt = cfg.optimizer
        optimizer = torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=opt.momentum,
                                    weight_decay=opt.weight_decay)
        model.train()
        time_steps(model, optimizer, x, y, 5)   # warm-up
        contenders[name] = (model, optimizer, [])
    order = list(contenders)
    for round_index in range(rounds):
        for name in order if round_index % 2 == 0 else reversed(order):
            model, optimizer, times = contenders[name]
            times.append(time_steps(model, optimizer, x, y, steps, clock))
    gen, hand_times = contenders["generated"][2], contenders["hand-written"][2]
    return {"spec": graph.name, "batch": batch, "generated_ms": min(gen) * 1e3, "hand_ms": min(hand_times) * 1e3,
            "ratio_best": min(gen) / min(hand_times),
            "ratio_paired": statistics.median(g / h for g, h in zip(gen, hand_times))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both contenders (default 1)")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed round")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu",
                        help="cpu (default): process CPU time, robust to other jobs on the machine; wall: elapsed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    rows = [compare("lenet5.yaml", HandLeNet5(), args.rounds, args.steps, clock),
            compare("mlp.yaml", hand_mlp(), args.rounds, args.steps, clock)]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} time, {args.rounds} rounds x "
          f"{args.steps} steps")
    print("| model | batch | generated ms/step | hand-written ms/step | ratio (best) | ratio (median paired) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['spec']} | {r['batch']} | {r['generated_ms']:.2f} | {r['hand_ms']:.2f} | "
              f"{r['ratio_best']:.3f} | {r['ratio_paired']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
