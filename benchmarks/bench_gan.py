"""GAN training steps on the NumPy backend against the generated PyTorch GAN file, same run, one thread.

    python benchmarks/bench_gan.py [--spec specs/dcgan_digits.yaml] [--seconds 2] [--repeats 5] [--json]

One step is what `netspec train` does per batch: a discriminator update on a real and a generated batch,
then a generator update through the discriminator (non-saturating loss, BCE with logits), each side with
its own trainer (backends/runtime/gan.py and the inlined backends/torch/gan_trainer.py), both from the
same initial weights, on batches of real digits. After a warm-up the two sides alternate for --repeats
rounds of --seconds; the table gives the median rate of each (wall clock, and per CPU second of this
process) and their ratio. The load average before and after goes into the JSON. Goal: >= 1.0x PyTorch.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def steppers(spec: str, out: str):
    import numpy as np
    import torch

    import backends.numpy as numpy_backend
    from backends.runtime.gan import GanSteps, Net, gan_settings, load_real
    from backends.runtime.init import init_state
    from backends.torch import load_module
    from netspec import load_graph
    networks = load_graph(spec)
    cfg, data = gan_settings(networks)
    real, _ = load_real(networks, cfg, data)
    states = {role: init_state(networks.graphs[cfg.get(role)], i) for i, role in enumerate(("generator",
                                                                                            "discriminator"))}
    ops = numpy_backend.make_ops("float32", np.random.default_rng(0))
    nets = {role: Net(networks.graphs[cfg.get(role)], ops, states[role], cfg.optimizer[role],
                      grad_inputs=role == "discriminator") for role in states}
    mine = GanSteps(networks, cfg, ops, nets["generator"], nets["discriminator"], real, np.random.default_rng(0), out,
                    "numpy")
    module = load_module(networks)
    model = module.build_model()
    model.load_state_dict({f"{cfg.get(role)}.{k}": torch.from_numpy(np.asarray(v, dtype=np.float32))
                           for role, state in states.items() for k, v in state.items()})
    optimizers = {role: module.make_optimizer(model[cfg.get(role)].parameters(), module.GAN["optimizer"][role])
                  for role in states}
    theirs = module._GanSteps(model, optimizers, module.SPEC, module.GAN, real, torch.device("cpu"), torch.float32,
                              out)
    for side in (mine, theirs):
        side.batches(1)          # opens the epoch's sums
    batches = [np.random.default_rng(i).choice(len(real), cfg.batch_size, replace=False) for i in range(8)]
    return cfg, mine, theirs, batches


def rate(steps, batches, batch: int, seconds: float) -> tuple[float, float]:
    done, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        steps.step(batches[done % len(batches)])
        done += 1
    return done * batch / (time.perf_counter() - wall0), done * batch / max(time.process_time() - cpu0, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=os.path.join(ROOT, "specs", "dcgan_digits.yaml"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ["NETSPEC_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        cfg, mine, theirs, batches = steppers(args.spec, out)
        for side in (mine, theirs):
            rate(side, batches, cfg.batch_size, 0.5)            # warm-up: JIT compiles, allocator settles
        rounds = {"numpy": [], "torch": []}
        for _ in range(args.repeats):
            for name, side in (("numpy", mine), ("torch", theirs)):
                rounds[name].append(rate(side, batches, cfg.batch_size, args.seconds))
    result = {"spec": os.path.relpath(args.spec, ROOT), "batch_size": cfg.batch_size, "threads": 1,
              "torch": torch.__version__, "load_before": [round(v, 2) for v in load_before],
              "load_after": [round(v, 2) for v in os.getloadavg()]}
    for index, kind in enumerate(("wall", "cpu")):
        ours = statistics.median(r[index] for r in rounds["numpy"])
        peer = statistics.median(r[index] for r in rounds["torch"])
        result[kind] = {"numpy_samples_per_s": round(ours), "torch_samples_per_s": round(peer),
                        "ratio": round(ours / peer, 2)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"GAN step, {result['spec']}, batch {cfg.batch_size}, 1 thread, median of {args.repeats} rounds "
          f"(load {result['load_before']} -> {result['load_after']})")
    print("| clock | NumPy backend | generated PyTorch | ratio |\n| --- | ---: | ---: | ---: |")
    for kind in ("wall", "cpu"):
        row = result[kind]
        print(f"| {kind} | {row['numpy_samples_per_s']:,} samples/s | {row['torch_samples_per_s']:,} samples/s | "
              f"{row['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
