"""Numba-CUDA training throughput against PyTorch (cuDNN/cuBLAS) on the same GPU, in the same run.

    python benchmarks/bench_cuda.py [--steps 50] [--json]

Workloads: LeNet-5 (specs/lenet5.yaml), the MLP 784-500-500-2000-10 (relu, SGD momentum) and RBM
CD-1 784x500, all at batch 64 on random MNIST-shaped data. Both sides start from the same weights,
upload each batch from the host and run the same update rule; PyTorch runs with TF32 off so that
both compute in float32. Goals: >= 0.5x PyTorch on LeNet-5, >= 0.8x on the MLP and CD-1.
Refuses to run without a real GPU (simulator timings mean nothing).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MLP = os.path.join(ROOT, "benchmarks", "specs", "mlp_784_500_500_2000_10.yaml")
GOALS = {"lenet5": 0.5, "mlp 784-500-500-2000-10": 0.8, "rbm cd-1 784x500": 0.8}


def refuse(message: str) -> int:
    print(f"bench_cuda: {message}; this benchmark needs an NVIDIA GPU with CUDA (numba-cuda) and a CUDA build "
          "of PyTorch. It does not run on the CUDA simulator.", file=sys.stderr)
    return 1


def _timed(step, sync, steps: int, warmup: int = 5) -> float:
    """Seconds per step after warm-up (compilation, cuDNN autotuning)."""
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps


def bench_classifier(graph, batch: int, steps: int):
    """(ours, torch) seconds per training step of `graph` with SGD momentum on random data."""
    import numpy as np
    import torch
    from numba import cuda

    from backends.numba_cuda import make_ops
    from backends.runtime import Model, init_state
    from backends.runtime.optim import Optimizer
    from backends.torch import build_model
    from netspec.config import read_train

    rng = np.random.default_rng(0)
    shape = tuple(int(d) for d in graph[graph.inputs[0]].shape)
    xs = [rng.random((batch, *shape), dtype=np.float32) for _ in range(8)]
    ys = [rng.integers(0, 10, batch) for _ in range(8)]
    state = init_state(graph, 0)
    cfg = read_train(graph.train)

    ops = make_ops("float32", rng)
    model = Model(graph, ops, state)
    trainable = [k for k, (_, t) in graph.state_layout().items() if t]
    optimizer = Optimizer(ops, cfg.optimizer, trainable)
    counter = [0]

    def ours():
        i = counter[0] = (counter[0] + 1) % len(xs)
        _loss, _outs, _labels, grads = model.train_step(xs[i], ys[i])
        optimizer.step(model.state, grads)

    ours_s = _timed(ours, cuda.synchronize, steps)

    net = build_model(graph).cuda()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    opt = torch.optim.SGD(net.parameters(), lr=cfg.optimizer.lr, momentum=cfg.optimizer.momentum,
                          weight_decay=cfg.optimizer.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()

    def theirs():
        i = counter[0] = (counter[0] + 1) % len(xs)
        x = torch.from_numpy(xs[i]).cuda(non_blocking=True)
        y = torch.from_numpy(ys[i]).cuda(non_blocking=True)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        loss.item()                      # the runtime reads the loss every step too

    return ours_s, _timed(theirs, torch.cuda.synchronize, steps)


def bench_rbm(batch: int, steps: int, visible: int = 784, hidden: int = 500):
    """(ours, torch) seconds per CD-1 update of a bernoulli RBM with momentum and weight decay."""
    import numpy as np
    import torch
    from numba import cuda

    from backends.numba_cuda.device import to_device
    from backends.numba_cuda.rbm import DeviceRBM

    rng = np.random.default_rng(0)
    data = [(rng.random((batch, visible)) < 0.3).astype(np.float32) for _ in range(8)]
    params = {"weight": (rng.standard_normal((hidden, visible)) * 0.01).astype(np.float32),
              "bias": np.zeros(hidden, np.float32), "visible_bias": np.zeros(visible, np.float32)}
    lr, momentum, decay = 0.05, 0.5, 2e-4
    rbm = DeviceRBM(params)
    counter = [0]

    def ours():
        i = counter[0] = (counter[0] + 1) % len(data)
        rbm.cd_step(to_device(data[i]), k=1, lr=lr, momentum=momentum, weight_decay=decay)

    ours_s = _timed(ours, cuda.synchronize, steps)

    w = torch.from_numpy(params["weight"]).cuda()
    b = torch.zeros(hidden, device="cuda")
    c = torch.zeros(visible, device="cuda")
    vel = [torch.zeros_like(t) for t in (w, b, c)]

    def theirs():
        i = counter[0] = (counter[0] + 1) % len(data)
        v0 = torch.from_numpy(data[i]).cuda(non_blocking=True)
        ph0 = torch.sigmoid(v0 @ w.T + b)
        h0 = torch.bernoulli(ph0)
        v1 = torch.sigmoid(h0 @ w + c)
        ph1 = torch.sigmoid(v1 @ w.T + b)
        grads = ((ph0.T @ v0 - ph1.T @ v1) / batch - decay * w, (ph0 - ph1).mean(0), (v0 - v1).mean(0))
        for param, velocity, grad in zip((w, b, c), vel, grads):
            velocity.mul_(momentum).add_(grad, alpha=lr)
            param.add_(velocity)

    return ours_s, _timed(theirs, torch.cuda.synchronize, steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per workload (default 50)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return refuse("NUMBA_ENABLE_CUDASIM is set")
    try:
        import torch
        from numba import cuda
    except ImportError as exc:
        return refuse(f"missing package ({exc})")
    if not cuda.is_available():
        return refuse("numba finds no CUDA GPU")
    if not torch.cuda.is_available():
        return refuse("this PyTorch has no CUDA support")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

    from netspec import load_graph
    rows = []
    for name, path in (("lenet5", os.path.join(ROOT, "specs", "lenet5.yaml")), ("mlp 784-500-500-2000-10", MLP)):
        ours, theirs = bench_classifier(load_graph(path), args.batch, args.steps)
        rows.append((name, ours, theirs))
    ours, theirs = bench_rbm(args.batch, args.steps)
    rows.append(("rbm cd-1 784x500", ours, theirs))

    device = cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else str(device)
    print(f"device: {device}; batch {args.batch}; {args.steps} timed steps; float32 (TF32 off)")
    print(f"{'workload':<26}{'numba-cuda samples/s':>22}{'pytorch samples/s':>20}{'ratio':>8}{'goal':>7}")
    out = []
    for name, ours, theirs in rows:
        ratio = theirs / ours
        print(f"{name:<26}{args.batch / ours:>22.0f}{args.batch / theirs:>20.0f}{ratio:>7.2f}x{GOALS[name]:>6.1f}x")
        out.append({"workload": name, "numba_cuda_samples_per_s": args.batch / ours,
                    "pytorch_samples_per_s": args.batch / theirs, "ratio": ratio, "goal": GOALS[name]})
    if args.json:
        print(json.dumps({"device": device, "rows": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
