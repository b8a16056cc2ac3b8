"""Adversarial training of a generator against a discriminator on the shared runtime (NumPy and Numba-CUDA).

The non-saturating GAN: D learns real vs fake with BCE-with-logits (real targets 1 - label_smoothing), G
learns to make D(G(z)) say real; G's gradient is D's input gradient (an Executor with grad_inputs) pushed
back through G. The run policy (epochs, resume, metrics.jsonl, checkpoint cadence, Ctrl-C) is
backends/loop.py's; each epoch also writes a grid of samples from fixed noise.
"""
from __future__ import annotations

import os

import numpy as np

from backends import checkpoint
from backends.gan_files import SAMPLES_DIR, SAMPLES_PNG, prefixed, unprefixed, write_grid
from backends.loop import TrainingRun, prepare_run_dir
from netspec.errors import UserError
from netspec.gan import read_gan

from .executor import Executor
from .init import init_state
from .jit_notice import announce_compiles
from .optim import Optimizer


def gan_settings(networks, options=None):
    """The validated GAN section with the command line's overrides applied, and its data settings."""
    cfg = read_gan(networks.train)
    for key in ("epochs", "batch_size", "seed", "dtype"):
        if options is not None and getattr(options, key, None) is not None:
            cfg.values[key] = getattr(options, key)
    data = dict(cfg.data.values)
    data.update(getattr(options, "data", None) or {})
    return cfg, data


def load_real(networks, cfg, data: dict):
    """(train images, test images) shaped as the discriminator's input, scaled to data.range."""
    from netspec.data import load_dataset
    discriminator = networks.graphs[cfg.discriminator]
    shape = tuple(int(d) for d in discriminator[discriminator.inputs[0]].shape)
    if data.get("path") and not os.path.isabs(data["path"]) and networks.source:
        beside = os.path.join(os.path.dirname(os.path.abspath(networks.source)), data["path"])
        data["path"] = beside if os.path.exists(beside) else data["path"]
    dataset = load_dataset({k: v for k, v in data.items() if k != "range"}, shape, seed=cfg.seed, loss=None)
    low, high = (float(v) for v in cfg.data.range)
    return tuple((np.asarray(x, dtype=np.float64) * (high - low) + low) for x in (dataset.x_train, dataset.x_test))


def latent(rng, cfg, count: int, size: int) -> np.ndarray:
    """`count` latent vectors of `size` values from the spec's prior (normal, or uniform on [-1, 1])."""
    if cfg.latent == "uniform":
        return rng.uniform(-1.0, 1.0, (count, size))
    return rng.standard_normal((count, size))


class Net:
    """One network on a backend: its parameters, an Executor (a second one that also returns the input's
    gradient, for the discriminator) and its optimizer."""

    def __init__(self, graph, ops, state_np: dict, opt_cfg=None, grad_inputs: bool = False):
        self.graph, self.ops = graph, ops
        self.state = {key: ops.from_numpy(np.asarray(value)) for key, value in state_np.items()}
        self.executor = Executor(graph, ops, self.state)
        self.through = Executor(graph, ops, self.state, grad_inputs=True) if grad_inputs else None
        self.input, self.output = graph.inputs[0], graph.outputs[0]
        trainable = [key for key, (_, is_trainable) in graph.state_layout().items() if is_trainable]
        self.optimizer = Optimizer(ops, opt_cfg, trainable) if opt_cfg is not None else None

    def forward(self, x, train: bool = False, executor=None):
        return (executor or self.executor).forward({self.input: x}, train)[self.output]

    def state_numpy(self) -> dict:
        return {key: self.ops.to_numpy(value) for key, value in self.state.items()}


def _bce(ops, logits, value: float):
    """Mean BCE-with-logits of `logits` against the constant target `value`: (loss, d loss / d logits)."""
    ctx: dict = {}
    target = ops.from_numpy(np.full(ops.to_numpy(logits).shape, value, dtype=ops.dtype))
    loss = ops.loss_forward("bce", ctx, logits, target, None)
    return float(loss), ops.loss_backward(ctx)


def _sigmoid_mean(ops, logits) -> float:
    return float(np.mean(1.0 / (1.0 + np.exp(-ops.to_numpy(logits).astype(np.float64)))))


class GanSteps:
    """The runtime's half of a GAN run (see backends.loop.TrainingRun.fit): one batch of real images is one
    discriminator step; every d_steps-th batch is also a generator step."""

    def __init__(self, networks, cfg, ops, generator: Net, discriminator: Net, real: np.ndarray, rng, out: str,
                 backend_name: str):
        self.networks, self.cfg, self.ops, self.rng = networks, cfg, ops, rng
        self.g, self.d, self.real, self.out, self.backend_name = generator, discriminator, real, out, backend_name
        self.z_size = int(generator.graph[generator.input].shape[0])
        self.fixed = latent(np.random.default_rng(cfg.seed + 1), cfg, cfg.samples, self.z_size)
        self.sums: dict = {}
        self.index = self.epoch = 0

    def set_lr(self, lr: float) -> None:      # no schedule: each network keeps its optimizer's lr
        pass

    def batches(self, epoch: int) -> list:
        order, size = self.rng.permutation(len(self.real)), self.cfg.batch_size
        self.epoch = epoch
        self.sums, self.index = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0, "n": 0, "g": 0}, 0
        return [order[start:start + size] for start in range(0, len(order), size) if len(order) - start > 1]

    def noise(self, count: int):
        return self.ops.from_numpy(np.asarray(latent(self.rng, self.cfg, count, self.z_size), dtype=self.ops.dtype))

    def step(self, idx) -> tuple:
        ops, g, d, count = self.ops, self.g, self.d, len(idx)
        real = ops.from_numpy(np.asarray(self.real[idx], dtype=ops.dtype))
        fake = g.forward(self.noise(count), train=True)          # batch statistics, as PyTorch's G(z) in training
        logits_real = d.forward(real, train=True)
        loss_real, grad = _bce(ops, logits_real, 1.0 - self.cfg.label_smoothing)
        grads = d.executor.backward({d.output: grad})
        logits_fake = d.forward(fake, train=True)
        loss_fake, grad = _bce(ops, logits_fake, 0.0)
        for key, value in d.executor.backward({d.output: grad}).items():
            grads[key] = ops.add(grads[key], value) if key in grads else value
        d.optimizer.step(d.state, grads)
        d_loss = loss_real + loss_fake
        sums = self.sums
        sums["d_loss"] += d_loss * count
        sums["d_real"] += _sigmoid_mean(ops, logits_real) * count
        sums["d_fake"] += _sigmoid_mean(ops, logits_fake) * count
        sums["n"] += count
        self.index += 1
        if self.index % self.cfg.d_steps == 0:
            sums["g_loss"] += self.generator_step(count) * count
            sums["g"] += count
        return d_loss, None

    def generator_step(self, count: int) -> float:
        """One G update with the non-saturating loss -log D(G(z)); D's parameters are left as they are."""
        g, d = self.g, self.d
        fake = g.forward(self.noise(count), train=True)
        logits = d.forward(fake, train=True, executor=d.through)
        loss, grad = _bce(self.ops, logits, 1.0)
        d.through.backward({d.output: grad})
        grads = g.executor.backward({g.output: d.through.input_gradients[d.input]})
        g.optimizer.step(g.state, grads)
        return loss

    def totals(self, loss_sum, accuracy_sum, seen: int) -> tuple:
        return float(loss_sum), accuracy_sum, seen

    def evaluate(self) -> dict:
        """The epoch's means (d_loss, g_loss, d_real = mean D(x), d_fake = mean D(G(z))); writes the grid."""
        sums = self.sums
        if not sums.get("n"):
            return {}
        self.write_grid()
        return {"d_loss": sums["d_loss"] / sums["n"], "g_loss": sums["g_loss"] / max(sums["g"], 1),
                "d_real": sums["d_real"] / sums["n"], "d_fake": sums["d_fake"] / sums["n"]}

    def write_grid(self) -> None:
        samples = self.ops.to_numpy(self.g.forward(self.ops.from_numpy(self.fixed.astype(self.ops.dtype))))
        write_grid([os.path.join(self.out, SAMPLES_PNG), os.path.join(self.out, SAMPLES_DIR, f"epoch_{self.epoch:04d}.png")],
                   samples, self.cfg.data.range)

    def save(self, epoch: int, partial: bool) -> None:
        meta = {"spec": self.networks.name, "source_hash": self.networks.source_hash, "epoch": epoch,
                "backend": self.backend_name, "dtype": str(self.ops.dtype), "rng": self.rng.bit_generator.state,
                "partial": partial, "method": "gan"}
        state, extra = {}, {}
        for net in (self.g, self.d):
            state.update(prefixed(net.graph.name, net.state_numpy()))
            extra.update(prefixed(net.graph.name, net.optimizer.state_arrays()))
        checkpoint.save(os.path.join(self.out, "checkpoint.npz"), state, meta=meta, extra=extra)


def train_gan(networks, options, make_ops, backend_name: str) -> dict:
    """Train a several-network spec's GAN; return the JSON result (backends.base.RESULT_KEYS, final_loss = D's)."""
    cfg, data = gan_settings(networks, options)
    prepare_run_dir(options.out_dir, options.resume, getattr(options, "overwrite", False))
    run = TrainingRun(options.out_dir, cfg.epochs, {}, float(cfg.optimizer["generator"].lr), cfg.checkpoint_every,
                      options.max_steps, options.progress, resume_command=getattr(options, "resume_command", None))
    with run.interruptible(), announce_compiles(run.log, cuda=backend_name == "numba-cuda"):
        rng = np.random.default_rng(cfg.seed)
        real, _ = load_real(networks, cfg, data)
        if len(real) < 2:
            raise UserError(f"{data.get('path') or data['name']}: the training set has {len(real)} image(s)")
        graphs = {role: networks.graphs[cfg.get(role)] for role in ("generator", "discriminator")}
        resume = options.resume and os.path.exists(run.checkpoint)
        if resume:
            state_np, extra, meta = load_gan_checkpoint(networks, run.checkpoint, cfg)
            run.resumed_from(meta)
            checkpoint.restore_numpy_rng(rng, meta.get("rng"), run.checkpoint)
        else:
            state_np = {role: init_state(graph, cfg.seed + i) for i, (role, graph) in enumerate(graphs.items())}
            extra = {}
        run.open_metrics(resume)
        if not resume:
            import shutil
            shutil.rmtree(os.path.join(options.out_dir, SAMPLES_DIR), ignore_errors=True)
        ops = make_ops(cfg.dtype, rng)
        nets = {role: Net(graph, ops, state_np[role], cfg.optimizer[role], grad_inputs=role == "discriminator")
                for role, graph in graphs.items()}
        for role, net in nets.items():
            net.optimizer.load_state_arrays(unprefixed(graphs[role].name, extra))
        steps = GanSteps(networks, cfg, ops, nets["generator"], nets["discriminator"], real, rng, options.out_dir,
                         backend_name)
        result = run.fit(steps, backend_name)
    result["samples"] = os.path.join(options.out_dir, SAMPLES_PNG)
    return result


def load_gan_checkpoint(networks, path: str, cfg) -> tuple:
    """({role: one network's state}, extra arrays, meta) of a GAN checkpoint, every part checked."""
    state, extra, meta = checkpoint.load(path)
    checkpoint.check_layout(networks, state, path)
    out = {}
    for role in ("generator", "discriminator"):
        net = cfg.get(role)
        graph = networks.graphs[net]
        out[role] = unprefixed(net, state)
        shapes = {key: shape for key, (shape, trainable) in graph.state_layout().items() if trainable}
        opt = cfg.optimizer[role]
        checkpoint.check_optimizer_state(unprefixed(net, extra), shapes, opt.type, path, opt.momentum)
    return out, extra, meta


def generate(networks, state: dict, count: int, seed: int, make_ops, dtype: str = "float32") -> np.ndarray:
    """`count` samples of the trained generator (state: the GAN checkpoint's arrays), in the data's range."""
    cfg, _ = gan_settings(networks)
    graph = networks.graphs[cfg.generator]
    ops = make_ops(dtype, np.random.default_rng(seed))
    net = Net(graph, ops, unprefixed(cfg.generator, state))
    z = latent(np.random.default_rng(seed), cfg, count, int(graph[graph.inputs[0]].shape[0]))
    parts = [ops.to_numpy(net.forward(ops.from_numpy(z[i:i + 256].astype(ops.dtype)))) for i in range(0, count, 256)]
    return np.concatenate(parts).astype(np.float32)
