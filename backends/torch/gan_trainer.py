"""Adversarial training and the command line of a generated PyTorch GAN file (a spec with `networks:`).

Inlined after backends/torch/trainer.py into the files that `netspec compile --target torch` writes for a
GAN spec; it reads SPEC (name, hash, the networks' roles and shapes) and GAN (the validated
`train: {method: gan}` section). build_model() returns an nn.ModuleDict of the networks, so state_dict keys
are netspec's checkpoint keys ('generator.linear_1.weight'). The run policy is backends/loop.py's, the
checkpoint keys and sample grids backends/gan_files.py's: a run here and `netspec train --backend numpy`
leave the same files.

Under `torchrun --nproc_per_node=N` both networks train with DistributedDataParallel (gloo on CPU, nccl on
GPU): each process takes `batch_size` real images per step from its DistributedSampler shard and draws its
own noise; rank 0 alone writes the checkpoint, metrics and grids; the metrics are averaged over the processes.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

import numpy as np
import torch
import torch.nn.functional as F

from backends.checkpoint import check_optimizer_state, save
from backends.gan_files import SAMPLES_DIR, SAMPLES_PNG, prefixed, unprefixed, write_grid
from backends.loop import TrainingRun, prepare_run_dir, resume_command
from backends.torch.trainer import (
    add_run_options,
    finish_run,
    load_weights,
    make_optimizer,
    optimizer_arrays,
    restore_optimizer,
    restore_rng,
    rng_arrays,
    run_and_report,
    run_settings,
    set_threads,
    state_arrays,
)
from netspec.argtypes import positive_int
from netspec.data import load_dataset

ROLES = ("generator", "discriminator")


def gan_real_images(spec: dict, cfg: dict) -> np.ndarray:
    """The training images shaped as the discriminator's input, scaled to data.range."""
    data = {k: v for k, v in cfg["data"].items() if k != "range"}
    dataset = load_dataset(data, tuple(spec["sample_shape"]), seed=cfg["seed"], loss=None)
    low, high = cfg["data"]["range"]
    return np.asarray(dataset.x_train, dtype=np.float64) * (high - low) + low


def gan_latent(cfg: dict, count: int, size: int, device, dtype, generator=None):
    """Latent vectors from the spec's prior: normal, or uniform on [-1, 1]."""
    if cfg["latent"] == "uniform":
        return torch.rand(count, size, generator=generator).mul_(2).sub_(1).to(device, dtype)
    return torch.randn(count, size, generator=generator).to(device, dtype)


SUMS = ("d_loss", "g_loss", "d_real", "d_fake", "n", "g")


def noise_generator(seed: int, rank: int, epoch: int) -> torch.Generator:
    """The epoch's noise stream of one process: different per rank, and a function of the epoch alone, so that
    a run resumed from an epoch's checkpoint draws what an uninterrupted one does."""
    state = np.random.SeedSequence([seed, rank, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class _GanSteps:
    """The PyTorch half of a GAN run (backends.loop.TrainingRun.fit): each batch is a discriminator step,
    every d_steps-th batch also a generator step (non-saturating loss, BCE with logits). One process of DDP
    when world > 1."""

    def __init__(self, model, optimizers, spec, cfg, real, device, dtype, out, world=1, rank=0):
        self.model, self.optimizers, self.spec, self.cfg = model, optimizers, spec, cfg
        self.g, self.d = model[spec["generator"]], model[spec["discriminator"]]
        self.g_net, self.d_net = self.g, self.d
        self.sampler, self.world, self.rank = None, world, rank
        if world > 1:
            ids = [device] if device.type == "cuda" else None
            self.g_net = torch.nn.parallel.DistributedDataParallel(self.g, device_ids=ids)
            self.d_net = torch.nn.parallel.DistributedDataParallel(self.d, device_ids=ids)
            self.sampler = torch.utils.data.DistributedSampler(range(len(real)), world, rank, shuffle=True,
                                                               seed=cfg["seed"])
        self.real = torch.from_numpy(real).to(device, dtype)
        self.device, self.dtype, self.out = device, dtype, out
        self.z = spec["latent_size"]
        fixed = torch.Generator().manual_seed(cfg["seed"] + 1)
        self.fixed = gan_latent(cfg, cfg["samples"], self.z, device, dtype, fixed)
        self.steps = {role: 0 for role in ROLES}
        self.sums, self.index, self.epoch, self.noise = {}, 0, 0, None

    def set_lr(self, lr: float) -> None:      # no schedule: each network keeps its optimizer's lr
        pass

    def batches(self, epoch: int):
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
            order = np.asarray(list(self.sampler))
        else:
            order = np.random.default_rng(self.cfg["seed"] + epoch).permutation(len(self.real))
        size = self.cfg["batch_size"]
        self.sums, self.index, self.epoch = dict.fromkeys(SUMS, 0.0), 0, epoch
        self.noise = noise_generator(self.cfg["seed"], self.rank, epoch)
        return [order[start:start + size] for start in range(0, len(order), size) if len(order) - start > 1]

    def latent(self, count: int):
        return gan_latent(self.cfg, count, self.z, self.device, self.dtype, self.noise)

    def step(self, batch):
        cfg, g, d = self.cfg, self.g_net, self.d_net
        real = self.real[torch.from_numpy(np.asarray(batch)).to(self.real.device)]
        count = len(batch)
        with torch.no_grad():
            fake = g(self.latent(count))
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        logits_real = d(real)
        loss_real = F.binary_cross_entropy_with_logits(logits_real, torch.full_like(logits_real,
                                                                                   1.0 - cfg["label_smoothing"]))
        loss_real.backward()
        logits_fake = d(fake)
        loss_fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
        loss_fake.backward()
        optimizer.step()
        self.steps["discriminator"] += 1
        d_loss = float(loss_real.detach()) + float(loss_fake.detach())
        sums = self.sums
        sums["d_loss"] += d_loss * count
        sums["d_real"] += float(torch.sigmoid(logits_real.detach()).mean()) * count
        sums["d_fake"] += float(torch.sigmoid(logits_fake.detach()).mean()) * count
        sums["n"] += count
        self.index += 1
        if self.index % cfg["d_steps"] == 0:
            sums["g_loss"] += self.generator_step(count) * count
            sums["g"] += count
        return d_loss, None

    def generator_step(self, count: int) -> float:
        """One generator step. The loss backpropagates through D's own module (not its DDP wrapper) with D's
        parameters frozen: G needs only the gradient with respect to D's input, so D's weight gradients are
        neither computed nor all-reduced, and D's DDP never sees a forward without its backward."""
        optimizer = self.optimizers["generator"]
        optimizer.zero_grad(set_to_none=True)
        self.d.requires_grad_(False)
        try:
            logits = self.d(self.g_net(self.latent(count)))
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            loss.backward()
        finally:
            self.d.requires_grad_(True)
        optimizer.step()
        self.steps["generator"] += 1
        return float(loss.detach())

    def totals(self, loss_sum, accuracy_sum, seen: int):
        """The epoch's sums over every process (so that all ranks report the same metrics); rank 0's
        batchnorm statistics to the others (DDP's broadcast_buffers keeps rank 0's, but the last forward updated
        each rank's own), so that every rank ends the epoch with the same networks."""
        if self.world > 1:
            keys = [*SUMS, "loss"]
            values = torch.tensor([float(self.sums[k]) for k in SUMS] + [float(loss_sum)], dtype=torch.float64,
                                  device=self.device)
            torch.distributed.all_reduce(values)
            self.sums = dict(zip(keys, values.tolist()))
            loss_sum, seen = self.sums.pop("loss"), int(self.sums["n"])
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, 0)
        return float(loss_sum), accuracy_sum, seen

    @torch.no_grad()
    def evaluate(self) -> dict:
        sums = self.sums
        if not sums.get("n"):
            return {}
        if self.rank == 0:
            self.write_grids()
        return {"d_loss": sums["d_loss"] / sums["n"], "g_loss": sums["g_loss"] / max(sums["g"], 1),
                "d_real": sums["d_real"] / sums["n"], "d_fake": sums["d_fake"] / sums["n"]}

    @torch.no_grad()
    def write_grids(self) -> None:
        self.g.eval()
        samples = self.g(self.fixed).cpu().numpy()
        self.g.train()
        write_grid([os.path.join(self.out, SAMPLES_PNG), os.path.join(self.out, SAMPLES_DIR, f"epoch_{self.epoch:04d}.png")],
                   samples, self.cfg["data"]["range"])

    def save(self, epoch: int, partial: bool) -> None:
        extra = dict(rng_arrays(self.device))
        for role in ROLES:
            net = self.spec[role]
            d_extra = optimizer_arrays(self.model[net], self.optimizers[role], self.steps[role])
            extra.update(prefixed(net, d_extra))
        meta = {"spec": self.spec["name"], "source_hash": self.spec["source_hash"], "epoch": epoch, "backend": "torch",
                "dtype": str(self.dtype).replace("torch.", ""), "partial": partial, "method": "gan"}
        save(os.path.join(self.out, "checkpoint.npz"), state_arrays(self.model), meta=meta, extra=extra)


def fit_gan(build_model, spec: dict, gan_cfg: dict, *, epochs=None, out=None, resume=False, overwrite=False,
            max_steps=None, batch_size=None, seed=None, data=None, dtype=None, progress=True, device=None,
            threads=None, resume_with=None) -> dict:
    """Train the GAN with the spec's settings (keyword arguments override them); return the run's figures."""
    cfg, out, rank, world, device = run_settings(spec, gan_cfg, out, threads, device, epochs=epochs,
                                                 batch_size=batch_size, seed=seed, dtype=dtype, data=data)
    leader = rank == 0
    prepare_run_dir(out, resume, overwrite, remove=leader)
    run = TrainingRun(out, cfg["epochs"], {}, cfg["optimizer"]["generator"]["lr"], cfg.get("checkpoint_every", 1),
                      max_steps, progress, leader, resume_with)
    with run.interruptible():
        torch.manual_seed(cfg["seed"])
        real = gan_real_images(spec, cfg)
        float_dtype = torch.float64 if cfg["dtype"] == "float64" else torch.float32
        model = build_model().to(device, float_dtype)
        optimizers = {role: make_optimizer(model[spec[role]].parameters(), cfg["optimizer"][role]) for role in ROLES}
        steps = _GanSteps(model, optimizers, spec, cfg, real, device, float_dtype, out, world, rank)
        continuing = resume and os.path.exists(run.checkpoint)
        if continuing:
            extra, meta = load_weights(model, run.checkpoint)
            for role in ROLES:
                net, opt = spec[role], cfg["optimizer"][role]
                own = unprefixed(net, extra)
                check_optimizer_state(own, {k: tuple(p.shape) for k, p in model[net].named_parameters()},
                                      opt["type"], run.checkpoint, opt["momentum"])
                steps.steps[role] = restore_optimizer(model[net], optimizers[role], own)
            restore_rng(extra, device, run.checkpoint)
            run.resumed_from(meta)
        elif leader:
            import shutil
            shutil.rmtree(os.path.join(out, SAMPLES_DIR), ignore_errors=True)
        run.open_metrics(continuing)
        result = run.fit(steps, "torch")
        result["samples"] = os.path.join(out, SAMPLES_PNG)
        return finish_run(result, model, device, rank, world)


@torch.no_grad()
def sample_gan(build_model, spec: dict, gan_cfg: dict, checkpoint: str, count: int = 64, seed: int = 0) -> np.ndarray:
    """`count` samples from a trained checkpoint's generator, in the data's range."""
    model = build_model()
    load_weights(model, checkpoint)
    generator = model[spec["generator"]].eval()
    noise = gan_latent(gan_cfg, count, spec["latent_size"], torch.device("cpu"), torch.float32,
                       torch.Generator().manual_seed(seed))
    return generator(noise).numpy()


def run_gan_cli(build_model, spec: dict, gan_cfg: dict, argv=None) -> int:
    """`python model.py [options]`: train the GAN (or with --sample N, write a grid of N samples)."""
    name = spec["name"].replace("%", "%%")
    parser = argparse.ArgumentParser(description=f"Train the GAN {name} with the settings of its spec (GAN).")
    add_run_options(parser, spec, gan_cfg, "GAN", f"override GAN batch_size ({gan_cfg['batch_size']})",
                    "checkpoint.npz, metrics.jsonl and sample grids", "discriminator steps")
    parser.add_argument("--sample", type=positive_int, metavar="N", help="write a grid of N samples from DIR's "
                        "checkpoint to DIR/samples.png instead of training")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)

    def job():
        if args.sample:
            set_threads(args.threads)
            samples = sample_gan(build_model, spec, gan_cfg, os.path.join(args.out, "checkpoint.npz"), args.sample,
                                 args.seed or 0)
            write_grid([os.path.join(args.out, SAMPLES_PNG)], samples, gan_cfg["data"]["range"])
            print(f"wrote {os.path.join(args.out, SAMPLES_PNG)} ({args.sample} samples)")
            return None
        return fit_gan(build_model, spec, gan_cfg, epochs=args.epochs, out=args.out, resume=args.resume,
                       overwrite=args.overwrite, max_steps=args.max_steps, batch_size=args.batch_size,
                       seed=args.seed, data={"path": args.data} if args.data else None, dtype=args.dtype,
                       progress=not (args.quiet or args.json), device=args.device, threads=args.threads,
                       resume_with=resume_command(f"python {shlex.quote(sys.argv[0] or 'model.py')}", argv))

    return run_and_report(job, args.json)

