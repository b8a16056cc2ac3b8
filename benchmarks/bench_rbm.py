"""CD-1 training throughput of one RBM (784 visible x 500 hidden, batch 64, float32).

Compares, in one run on the same random binary data: netspec's NumPy RBM (backends.energy), a
hand-written PyTorch CD-1 (CPU, same algorithm: sampled hidden states, visible means, momentum),
and scikit-learn's BernoulliRBM (PCD-1, its own fixed algorithm) twice: fed the float32 batches
(scikit-learn >= 1.2 then computes in float32) and fed float64 ones (what it computes on the arrays
its own loaders and documented example give it). Prints samples/second and the ratios (medians
over interleaved rounds).
`python benchmarks/bench_rbm.py [--seconds 1] [--rounds 7] [--threads 1] [--json]`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VISIBLE, HIDDEN, BATCH = 784, 500, 64
PEERS = ("torch", "sklearn", "sklearn_float64")


def _data(count=4096, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((count, VISIBLE)) < 0.15).astype(np.float32)


def _time(step, batches, seconds):
    """Samples/second of step(batch) over `seconds`, after a few warm-up steps."""
    for batch in batches[:4]:
        step(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in batches[:16]:
            step(batch)
            done += len(batch)
    return done / (time.perf_counter() - start)


def bench_netspec(data, seconds):
    from backends.energy.rbm import RBM, RBMConfig, RBMTrainer
    rbm = RBM(VISIBLE, HIDDEN, rng=np.random.default_rng(0))
    trainer = RBMTrainer(rbm, RBMConfig(lr=0.01, k=1, batch_size=BATCH, weight_decay=0.0))
    batches = [data[i:i + BATCH] for i in range(0, len(data), BATCH)]
    return lambda: _time(lambda b: trainer.step(b, 0.5), batches, seconds)


def bench_torch(data, seconds):
    import torch
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(HIDDEN, VISIBLE, generator=gen) * 0.01
    b, c = torch.zeros(HIDDEN), torch.zeros(VISIBLE)
    vw, vb, vc = torch.zeros_like(w), torch.zeros_like(b), torch.zeros_like(c)
    lr, momentum = 0.01, 0.5

    @torch.no_grad()
    def step(v0):
        ph0 = torch.sigmoid(v0 @ w.T + b)
        h0 = (torch.rand(ph0.shape, generator=gen) < ph0).float()
        v1 = torch.sigmoid(h0 @ w + c)
        ph1 = torch.sigmoid(v1 @ w.T + b)
        n = v0.shape[0]
        vw.mul_(momentum).add_((ph0.T @ v0 - ph1.T @ v1) * (lr / n))
        vb.mul_(momentum).add_((ph0.sum(0) - ph1.sum(0)) * (lr / n))
        vc.mul_(momentum).add_((v0.sum(0) - v1.sum(0)) * (lr / n))
        w.add_(vw)
        b.add_(vb)
        c.add_(vc)

    batches = [torch.from_numpy(data[i:i + BATCH]) for i in range(0, len(data), BATCH)]
    return lambda: _time(step, batches, seconds)


def bench_sklearn(data, seconds, dtype=np.float32):
    from sklearn.neural_network import BernoulliRBM  # keeps float32 input in float32 (scikit-learn >= 1.2)
    data = data.astype(dtype)
    rbm = BernoulliRBM(n_components=HIDDEN, learning_rate=0.01, batch_size=BATCH, n_iter=1, random_state=0)
    rbm.fit(data[:BATCH])
    rng = np.random.RandomState(0)
    batches = [data[i:i + BATCH] for i in range(0, len(data), BATCH)]
    return lambda: _time(lambda batch: rbm._fit(batch, rng), batches, seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per contender and round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (the median of each is reported)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS / torch threads for every contender")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    data = _data()
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    contenders = {"netspec_numpy": bench_netspec(data, args.seconds)}
    peers = (("torch", bench_torch), ("sklearn", bench_sklearn),
             ("sklearn_float64", lambda d, s: bench_sklearn(d, s, np.float64)))
    for name, make in peers:
        try:
            contenders[name] = make(data, args.seconds)
        except ImportError:
            pass
    rates = {name: [] for name in contenders}
    for _ in range(args.rounds):          # interleaved rounds: load on a shared machine hits every contender
        for name, run in contenders.items():
            rates[name].append(run())
    median = {name: float(np.median(values)) for name, values in rates.items()}
    result = {"shape": f"{VISIBLE}x{HIDDEN}", "batch": BATCH, "dtype": "float32", "threads": args.threads,
              "rounds": args.rounds, **{name: median.get(name) for name in ("netspec_numpy", *PEERS)}}
    for peer in PEERS:
        if result[peer]:
            result[f"vs_{peer}"] = result["netspec_numpy"] / result[peer]
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("netspec_numpy", *PEERS):
            if result.get(key):
                print(f"{key:>15}: {result[key]:>10,.0f} samples/s")
        for peer in PEERS:
            if result.get(f"vs_{peer}"):
                print(f"netspec / {peer}: {result[f'vs_{peer}']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
