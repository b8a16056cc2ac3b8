"""Training, evaluation, checkpoints, decoding and the command line of a generated PyTorch model file.

This module is inlined into every file that `netspec compile --target torch` writes; there it uses the
inlined data loader (netspec/data.py), progress bar (backends/progress.py) and checkpoint format
(backends/checkpoint.py). It reads the spec through two dicts that the generated file defines: SPEC
(name, hash, inputs, output) and TRAIN (the validated `train:` section).

Under `torchrun --nproc_per_node=N` it trains with DistributedDataParallel (nccl on GPU, gloo on CPU);
each process takes `batch_size` samples per step from its DistributedSampler shard, rank 0 writes the
checkpoints and metrics.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from backends.checkpoint import CheckpointError, check_optimizer_state, load, save
from backends.progress import MetricsLog, ProgressBar
from netspec.argtypes import non_negative_int, positive_int, random_seed
from netspec.data import DataError, load_dataset

OPT_PREFIX = "__opt__/"

try:  # inside netspec a RunError is a UserError (exit 1, one line); standalone it is a plain Exception
    from netspec.errors import UserError as _RunErrorBase
except ImportError:  # pragma: no cover - inlined into generated model files
    _RunErrorBase = Exception


class RunError(_RunErrorBase):
    """A training or sampling request that cannot be carried out (wrong settings, unsuitable data)."""

    def __init__(self, message: str, hint: str | None = None):
        Exception.__init__(self, message + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------- set-up

def setup_distributed(device_name: str | None = None):
    """(rank, world_size, device). Under torchrun this joins the process group (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_name:
        device = parse_device(device_name)
    elif torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def parse_device(name: str):
    """A torch.device for --device, or a one-line RunError."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RunError(f"--device {name}: not a device name; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"--device {name}: no CUDA GPU is available here", "use --device cpu")
    return device


def make_optimizer(params, opt: dict):
    """The torch optimizer for TRAIN['optimizer']."""
    kind, lr, decay = opt["type"], opt["lr"], opt["weight_decay"]
    eps = {} if opt.get("eps") is None else {"eps": opt["eps"]}
    if kind == "sgd":
        if opt["nesterov"] and not opt["momentum"]:
            raise RunError("optimizer: nesterov needs a momentum above 0; set e.g. momentum: 0.9")
        return torch.optim.SGD(params, lr=lr, momentum=opt["momentum"], nesterov=opt["nesterov"], weight_decay=decay)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=decay, **eps)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=opt["alpha"], momentum=opt["momentum"], weight_decay=decay,
                                   **eps)
    if kind in ("adam", "adamw"):
        maker = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return maker(params, lr=lr, betas=tuple(opt["betas"]), weight_decay=decay, **eps)
    raise RunError(f"unknown optimizer '{kind}'")


def make_schedule(optimizer, schedule: dict, epochs: int):
    """The per-epoch learning-rate schedule for TRAIN['schedule'] (None: constant)."""
    kind = schedule["type"]
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=schedule["every"], gamma=schedule["gamma"])
    if kind == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=schedule["gamma"])
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule["t_max"] or max(epochs, 1),
                                                          eta_min=schedule["min_lr"])
    return None


def compute_loss(output, target, kind: str, output_activation: str | None):
    """Mean loss over the batch (and, for sequence outputs, over every step)."""
    if kind == "cross_entropy":
        if output.dim() > 2:                      # per-step logits: (batch, steps, classes)
            output, target = output.reshape(-1, output.shape[-1]), target.reshape(-1)
        if output_activation == "softmax":        # the model already outputs probabilities
            return F.nll_loss(torch.log(output.clamp_min(1e-12)), target)
        return F.cross_entropy(output, target)
    target = target.reshape(output.shape).to(output.dtype)
    if kind == "mse":
        return F.mse_loss(output, target)
    if kind == "bce":
        if output_activation == "sigmoid":
            return F.binary_cross_entropy(output.clamp(1e-7, 1 - 1e-7), target)
        return F.binary_cross_entropy_with_logits(output, target)
    raise RunError(f"unknown loss '{kind}'")


# ---------------------------------------------------------------- data

def load_data(spec: dict, cfg: dict):
    """(dataset, task): the spec's training data, checked against the model's input and output."""
    if spec.get("outputs", 1) != 1:
        raise RunError(f"spec '{spec['name']}' has {spec['outputs']} outputs; training needs one (the loss reads it)",
                       "declare a single 'output:' in the spec")
    if len(spec["inputs"]) != 1:
        raise RunError(f"spec '{spec['name']}' has {len(spec['inputs'])} inputs "
                       f"({', '.join(spec['inputs'])}); the bundled data loaders feed one input")
    (info,) = spec["inputs"].values()
    is_text = cfg["data"]["name"] == "text"
    shape = tuple(info["shape"])
    if any(isinstance(d, str) for d in shape) and not is_text:
        raise RunError(f"the input shape {shape} has a symbolic dim; only text data (name: text) fits it")
    loss = None if cfg.get("task") == "reconstruction" else cfg["loss"]    # reconstruction never reads targets
    dataset = load_dataset(cfg["data"], shape, cfg["seed"], info["dtype"], loss)
    for ids in (dataset.x_train, dataset.x_test):
        check_token_ids(ids, info.get("vocab"))
    task = cfg.get("task") or dataset.task
    if dataset.labeled is not None:
        dataset.x_train, dataset.y_train = dataset.x_train[dataset.labeled], dataset.y_train[dataset.labeled]
    if task == "reconstruction":
        dataset.y_train, dataset.y_test = dataset.x_train, dataset.x_test
    width = spec["output_shape"][-1] if spec["output_shape"] else 1
    if task in ("classification", "language_model") and isinstance(width, int) and dataset.classes > width:
        what = "distinct characters" if task == "language_model" else "classes"
        raise RunError(f"the data has {dataset.classes} {what} but the model outputs {width} values per "
                       f"{'step' if task == 'language_model' else 'sample'}; size the last layer to {dataset.classes}")
    return dataset, task


def check_token_ids(ids: np.ndarray, vocab: int | None) -> None:
    """The NumPy backend's message for a token id outside the embeddings' vocabulary (torch would raise IndexError)."""
    if vocab is None or not ids.size or not np.issubdtype(ids.dtype, np.integer):
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab:
        raise RunError(f"token id {high if high >= vocab else low} is outside the embedding's vocabulary of {vocab}; "
                       "raise 'vocab' to the data's")


def _tensor(array: np.ndarray, device, float_dtype):
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device, float_dtype if tensor.is_floating_point() else None)


# ---------------------------------------------------------------- checkpoints

def state_arrays(model) -> dict:
    return {key: value.detach().cpu().numpy() for key, value in model.state_dict().items()}


def state_digest(model) -> str:
    """sha256 of every parameter and buffer, in state_dict order (equal weights, equal digest)."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def optimizer_arrays(model, optimizer, steps: int) -> dict:
    """Optimizer state as '__opt__/<state_dict key>/<slot>' arrays (the layout every backend reads)."""
    out = {f"{OPT_PREFIX}steps": np.asarray(steps, dtype=np.int64)}
    for key, param in model.named_parameters():
        for slot, value in optimizer.state.get(param, {}).items():
            if slot != "step" and torch.is_tensor(value):
                out[f"{OPT_PREFIX}{key}/{slot}"] = value.detach().cpu().numpy()
    return out


RNG_KEY = "__rng__/torch"


def rng_arrays(device) -> dict:
    """torch's generator states (the CPU's, and the GPU's on CUDA) for a checkpoint, so that a resumed run
    draws the same dropout masks as an uninterrupted one (the shuffles are seeded per epoch)."""
    out = {RNG_KEY: torch.get_rng_state().numpy()}
    if device.type == "cuda":
        out[f"{RNG_KEY}/cuda"] = torch.cuda.get_rng_state(device).numpy()
    return out


def restore_rng(extra: dict, device, path: str = "checkpoint") -> None:
    try:
        if RNG_KEY in extra:
            torch.set_rng_state(torch.from_numpy(np.array(extra[RNG_KEY], dtype=np.uint8)))
        if device.type == "cuda" and f"{RNG_KEY}/cuda" in extra:
            torch.cuda.set_rng_state(torch.from_numpy(np.array(extra[f"{RNG_KEY}/cuda"], dtype=np.uint8)), device)
    except (RuntimeError, ValueError, TypeError, OverflowError):
        raise CheckpointError(f"{path}: the saved random-number state ('{RNG_KEY}') is damaged",
                              "use an intact checkpoint, or start a new run without --resume") from None


def load_weights(model, path: str) -> tuple[dict, dict]:
    """Load a checkpoint's parameters into `model`; return (extra arrays, meta). One-line errors on misfit."""
    state, extra, meta = load(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    dtypes = [f"{k}: checkpoint holds {state[k].dtype}, the model {own[k].dtype}" for k in own
              if k in state and own[k].is_floating_point() and state[k].dtype.kind != "f"]
    if missing or unexpected or wrong or dtypes:
        parts = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected[:5])}"] if unexpected else []) + \
                ([f"shape mismatch {'; '.join(wrong[:5])}"] if wrong else []) + \
                ([f"wrong dtype {'; '.join(dtypes[:5])}"] if dtypes else [])
        raise CheckpointError(f"{path}: checkpoint does not fit this model: {'; '.join(parts)}",
                              "use the checkpoint trained from this spec")
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return extra, meta


def restore_optimizer(model, optimizer, extra: dict) -> int:
    """Put saved optimizer state back; return the saved step count."""
    steps = int(extra.get(f"{OPT_PREFIX}steps", 0))
    for key, param in model.named_parameters():
        prefix = f"{OPT_PREFIX}{key}/"
        slots = {k[len(prefix):]: v for k, v in extra.items() if k.startswith(prefix)}
        if not slots:
            continue
        state = optimizer.state[param]
        for slot, value in slots.items():
            state[slot] = torch.from_numpy(np.array(value)).to(param.device, param.dtype)
        if not isinstance(optimizer, torch.optim.SGD):
            state["step"] = torch.tensor(float(steps))
    return steps


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model, x, y, loss: str, output_activation: str | None, batch_size: int = 512) -> dict:
    """Mean loss and (for class targets) accuracy over a held-out split."""
    if len(x) == 0:
        return {}
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    for start in range(0, len(x), batch_size):
        output = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        total += float(compute_loss(output, target, loss, output_activation)) * len(target)
        if loss == "cross_entropy":
            correct += int((output.argmax(-1) == target).sum())
            count += target.numel()
    model.train(was_training)
    result = {"test_loss": total / len(x)}
    if count:
        result["test_accuracy"] = correct / count
    return result


# ---------------------------------------------------------------- training

def fit(build_model, spec: dict, train_cfg: dict, *, epochs=None, out=None, resume=False, max_steps=None,
        batch_size=None, seed=None, data=None, dtype=None, progress=True, device=None, hooks=None) -> dict:
    """Train with the spec's settings; keyword arguments override them. Returns the run's figures.

    Writes out/checkpoint.npz (atomically, each `checkpoint_every` epochs and when stopped early) and
    out/metrics.jsonl (one row per epoch). resume=True continues from out/checkpoint.npz.
    hooks: optional callables, e.g. {'pretrain': fn(model, dataset, spec, device)} run before training.
    """
    cfg = copy.deepcopy(train_cfg)
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed), ("dtype", dtype)):
        if value is not None:
            cfg[key] = value
    cfg["data"].update(data or {})
    out = out or spec["run_dir"]
    rank, world, device = setup_distributed(device)
    leader = rank == 0
    torch.manual_seed(cfg["seed"])
    dataset, _task = load_data(spec, cfg)
    float_dtype = torch.float64 if cfg["dtype"] == "float64" else torch.float32
    model = build_model().to(device, float_dtype)
    optimizer = make_optimizer(model.parameters(), cfg["optimizer"])
    schedule = make_schedule(optimizer, cfg["schedule"], cfg["epochs"])
    path = os.path.join(out, "checkpoint.npz")
    start, steps = 0, 0
    pretrain = (hooks or {}).get("pretrain")
    if resume and not os.path.exists(path) and pretrain is None:
        raise CheckpointError(f"{path}: no checkpoint to resume from", "train without --resume first")
    if resume and os.path.exists(path):
        extra, meta = load_weights(model, path)
        check_optimizer_state(extra, {key: tuple(p.shape) for key, p in model.named_parameters()},
                              cfg["optimizer"]["type"], path, cfg["optimizer"]["momentum"])
        steps = restore_optimizer(model, optimizer, extra)
        restore_rng(extra, device, path)
        start = int(meta.get("epoch", 0))
        for _ in range(start):
            if schedule is not None:
                schedule.step()
    elif pretrain is not None:            # killed before the first fine-tuning checkpoint: pretraining resumes
        pretrain(model, dataset, spec, device, out=out, resume=resume, write=leader)
        resume = False
    metrics = MetricsLog(os.path.join(out, "metrics.jsonl"), resume=resume) if leader else None
    if metrics is not None and resume:
        metrics.truncate(start)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    x_train, y_train = _tensor(dataset.x_train, device, float_dtype), _tensor(dataset.y_train, device, float_dtype)
    x_test, y_test = _tensor(dataset.x_test, device, float_dtype), _tensor(dataset.y_test, device, float_dtype)
    loss_kind, activation = cfg["loss"], spec.get("output_activation")
    sampler = None
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(range(len(x_train)), world, rank, shuffle=True,
                                                      seed=cfg["seed"])
    meta = {"spec": spec["name"], "source_hash": spec["source_hash"], "backend": "torch", "dtype": cfg["dtype"]}
    if dataset.vocab:
        meta["vocab"] = "".join(dataset.vocab)
    seconds, samples, final_loss, epochs_done, stopped = 0.0, 0, None, start, False
    total_epochs = cfg["epochs"]
    for epoch in range(start + 1, total_epochs + 1):
        net.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
            order = torch.tensor(list(sampler))
        else:
            order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg["seed"] + epoch))
        batches = order.to(device).split(cfg["batch_size"])
        bar = ProgressBar(len(batches), f"epoch {epoch}/{total_epochs}", enabled=progress and leader)
        began = time.perf_counter()
        loss_sum, seen = torch.zeros((), device=device, dtype=torch.float64), 0
        for index, batch in enumerate(batches, 1):
            output = net(x_train[batch])
            loss = compute_loss(output, y_train[batch], loss_kind, activation)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            optimizer.step()
            steps += 1
            seen += len(batch)
            loss_sum += loss.detach() * len(batch)
            if bar.enabled:
                bar.update(index, seen, loss=float(loss_sum) / seen)
            if max_steps and steps >= max_steps and index < len(batches):
                stopped = True
                break
        bar.close()
        seconds += time.perf_counter() - began
        samples += seen * world
        if stopped:                               # cut short: report the partial epoch's mean loss
            final_loss = float(loss_sum) / max(seen, 1)
            break
        if world > 1:
            totals = torch.stack([loss_sum, torch.tensor(float(seen), device=device, dtype=torch.float64)])
            torch.distributed.all_reduce(totals)
            final_loss = float(totals[0] / totals[1])
        else:
            final_loss = float(loss_sum) / max(seen, 1)
        lr = optimizer.param_groups[0]["lr"]
        if schedule is not None:
            schedule.step()
        epochs_done = epoch
        if leader:
            row = {"epoch": epoch, "train_loss": final_loss, "lr": lr, "seconds": round(time.perf_counter() - began, 4),
                   "samples_per_second": seen * world / max(time.perf_counter() - began, 1e-9)}
            row.update(evaluate(model, x_test, y_test, loss_kind, activation))
            metrics.append(row)
            if progress:
                shown = ", ".join(f"{k} {row[k]:.4f}" for k in ("train_loss", "test_loss", "test_accuracy") if k in row)
                print(f"epoch {epoch}/{total_epochs}: {shown}", file=sys.stderr)
            if epoch % cfg.get("checkpoint_every", 1) == 0 or epoch == total_epochs:
                save(path, state_arrays(model), {**meta, "epoch": epoch, "steps": steps},
                     {**optimizer_arrays(model, optimizer, steps), **rng_arrays(device)})
        if max_steps and steps >= max_steps:
            stopped = True
            break
    if leader and (stopped or not os.path.exists(path)):   # keep the weights of a cut-short run
        save(path, state_arrays(model), {**meta, "epoch": epochs_done, "steps": steps},
             {**optimizer_arrays(model, optimizer, steps), **rng_arrays(device)})
    result = {"backend": "torch", "epochs": epochs_done, "final_loss": final_loss,
              "seconds": round(seconds, 4), "samples_per_second": samples / seconds if seconds else 0.0,
              "checkpoint": path, "device": str(device), "state_sha256": state_digest(model)}
    if final_loss is None and metrics is not None and metrics.rows:
        result["final_loss"] = metrics.rows[-1].get("train_loss")
    result.update(evaluate(model, x_test, y_test, loss_kind, activation))
    if world > 1:
        result["rank"], result["world_size"] = rank, world
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return result


# ---------------------------------------------------------------- decoding (character models)

@torch.no_grad()
def decode(model, prime_ids: list, length: int, beam: int = 1, temperature: float = 0.0, context: int = 64,
           seed: int = 0) -> list:
    """Continue `prime_ids` by `length` tokens: greedy (beam 1), beam search (beam > 1) or sampling
    (temperature > 0). The model maps (batch, steps) ids to (batch, steps, vocab) logits; it reads at most
    the last `context` tokens, as in training."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    beams = [(list(prime_ids), 0.0)]
    for _ in range(length):
        window = torch.tensor([ids[-context:] for ids, _ in beams], device=device)
        logits = model(window)[:, -1].double().cpu()
        if temperature > 0 and beam == 1:
            probs = torch.softmax(logits[0] / temperature, dim=-1)
            beams = [(beams[0][0] + [int(torch.multinomial(probs, 1, generator=generator))], 0.0)]
            continue
        scores = torch.log_softmax(logits, dim=-1) + torch.tensor([score for _, score in beams])[:, None]
        best = torch.topk(scores.flatten(), min(beam, scores.numel())).indices.tolist()
        vocab = scores.shape[1]
        beams = [(beams[i // vocab][0] + [i % vocab], float(scores.flatten()[i])) for i in best]
    return beams[0][0][len(prime_ids):]


def sample_text(build_model, spec: dict, train_cfg: dict, checkpoint: str, prime: str = "The ", length: int = 200,
                beam: int = 1, temperature: float = 0.0, device: str | None = None) -> str:
    """Text generated by a trained character model from its checkpoint."""
    model = build_model()
    _, meta = load_weights(model, checkpoint)
    model.to(parse_device(device or "cpu"))
    vocab = meta.get("vocab")
    if not vocab:
        dataset, _ = load_data(spec, train_cfg)
        vocab = "".join(dataset.vocab)
    lookup = {char: index for index, char in enumerate(vocab)}
    unknown = sorted({char for char in prime if char not in lookup})
    if unknown:
        raise RunError(f"--prime has characters the model never saw: {''.join(unknown)!r}")
    if not prime:
        raise RunError("--prime must have at least one character")
    ids = decode(model, [lookup[c] for c in prime], length, beam, temperature,
                 context=int(train_cfg["data"].get("seq_len") or 64), seed=train_cfg["seed"])
    return prime + "".join(vocab[i] for i in ids)


# ---------------------------------------------------------------- command line

def run_cli(build_model, spec: dict, train_cfg: dict, argv=None, hooks=None) -> int:
    """`python model.py [options]`: train (or with --sample, generate text); exit 0, or 1 with one line."""
    name = spec["name"].replace("%", "%%")            # argparse %-formats the description
    parser = argparse.ArgumentParser(description=f"Train {name} with the settings of its spec (TRAIN).")
    parser.add_argument("--epochs", type=positive_int, help=f"override TRAIN epochs ({train_cfg['epochs']})")
    parser.add_argument("--batch-size", type=positive_int,
                        help=f"samples per step per process ({train_cfg['batch_size']})")
    parser.add_argument("--seed", type=random_seed, help=f"override TRAIN seed ({train_cfg['seed']})")
    parser.add_argument("--dtype", choices=("float32", "float64"))
    parser.add_argument("--data", metavar="PATH", help="override the data path")
    parser.add_argument("--run-dir", "--out", dest="out", metavar="DIR", default=spec["run_dir"],
                        help="checkpoints and metrics.jsonl go here (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    parser.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results last")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    if is_token_model(spec):
        _add_sampling_arguments(parser)
    args = parser.parse_args(argv)
    try:
        if getattr(args, "sample", False):
            checkpoint = args.checkpoint or os.path.join(args.out, "checkpoint.npz")
            print(sample_text(build_model, spec, train_cfg, checkpoint, args.prime, args.length, max(args.beam, 1),
                              args.temperature, args.device))
            return 0
        result = fit(build_model, spec, train_cfg, epochs=args.epochs, out=args.out, resume=args.resume,
                     max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed,
                     data={"path": args.data} if args.data else None, dtype=args.dtype,
                     progress=not (args.quiet or args.json), device=args.device, hooks=hooks)
    except (DataError, CheckpointError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; continue with --resume", file=sys.stderr)
        return 130
    if args.json:
        # one write per line: under torchrun every rank shares stdout, and print() writes the text and the
        # newline separately, so two ranks' lines could interleave
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    elif result.get("rank", 0) == 0:
        print("done: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    return 0


def is_token_model(spec: dict) -> bool:
    """One input of token ids and per-step outputs: a model that --sample can decode from."""
    inputs = list(spec["inputs"].values())
    return len(inputs) == 1 and inputs[0]["dtype"].startswith("int") and len(spec["output_shape"]) == 2


def _add_sampling_arguments(parser) -> None:
    group = parser.add_argument_group("sampling (character models)")
    group.add_argument("--sample", action="store_true", help="generate text from DIR/checkpoint.npz")
    group.add_argument("--checkpoint", metavar="FILE", help="checkpoint to sample from (default: DIR/checkpoint.npz)")
    group.add_argument("--prime", default="The ", help="text to start from (default: %(default)r)")
    group.add_argument("--length", type=non_negative_int, default=200, help="characters to generate (default: %(default)s)")
    group.add_argument("--beam", type=positive_int, default=1, help="beam width; 1 is greedy decoding (default)")
    group.add_argument("--temperature", type=float, default=0.0, help="> 0: sample instead of greedy decoding")
