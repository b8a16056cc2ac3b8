"""Training, evaluation, checkpoints, decoding and the command line of a generated PyTorch model file.

This module is inlined into every file that `netspec compile --target torch` writes; there it uses the
inlined data loader (netspec/data.py), training policy (backends/loop.py: the same epochs, lines, metrics,
plot, checkpoints, resume and Ctrl-C as `netspec train`) and checkpoint format (backends/checkpoint.py). It reads the spec through two dicts that the generated file defines: SPEC
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
import shlex
import sys

import numpy as np
import torch
import torch.nn.functional as F

from backends.checkpoint import CheckpointError, check_optimizer_state, load, save
from backends.loop import (
    CHECKPOINT,
    Interrupted,
    RunError,
    TrainingRun,
    done_line,
    prepare_run_dir,
    resume_command,
    thread_count,
)
from netspec.argtypes import non_negative_int, positive_int, random_seed
from netspec.data import DataError, load_dataset

OPT_PREFIX = "__opt__/"


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


def set_threads(count: int | None = None) -> None:
    """Use `count` CPU threads (default: $NETSPEC_THREADS; neither: torch's default). On a busy machine
    torch's default (one thread per core) can be many times slower than one thread."""
    count = thread_count(count)
    if count:
        torch.set_num_threads(count)


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

def fit(build_model, spec: dict, train_cfg: dict, *, epochs=None, out=None, resume=False, overwrite=False,
        max_steps=None, batch_size=None, seed=None, data=None, dtype=None, progress=True, device=None, threads=None,
        hooks=None, resume_with=None) -> dict:
    """Train with the spec's settings; keyword arguments override them. Returns the run's figures.

    Writes out/checkpoint.npz (atomically, each `checkpoint_every` epochs and when stopped early),
    out/metrics.jsonl (one row per epoch) and out/training.png. resume=True continues from out/checkpoint.npz;
    an earlier run in `out` is otherwise refused unless overwrite=True. resume_with: the command line that
    resumes, for the Ctrl-C message. hooks: optional callables, e.g. {'pretrain': fn(model, dataset, spec,
    device)} run before training.
    """
    cfg = copy.deepcopy(train_cfg)
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed), ("dtype", dtype)):
        if value is not None:
            cfg[key] = value
    cfg["data"].update(data or {})
    out = out or spec["run_dir"]
    set_threads(threads)
    rank, world, device = setup_distributed(device)
    leader = rank == 0
    pretrain = (hooks or {}).get("pretrain")
    prepare_run_dir(out, resume, overwrite, pretraining=pretrain is not None, remove=leader)
    run = TrainingRun(out, cfg["epochs"], cfg["schedule"], cfg["optimizer"]["lr"], cfg.get("checkpoint_every", 1),
                      max_steps, progress, leader, resume_with)
    with run.interruptible():
        torch.manual_seed(cfg["seed"])
        dataset, _task = load_data(spec, cfg)
        float_dtype = torch.float64 if cfg["dtype"] == "float64" else torch.float32
        model = build_model().to(device, float_dtype)
        optimizer = make_optimizer(model.parameters(), cfg["optimizer"])
        steps = _Steps(model, optimizer, spec, cfg, dataset, device, float_dtype, world, rank, run.checkpoint)
        continuing = resume and os.path.exists(run.checkpoint)
        if continuing:
            extra, meta = load_weights(model, run.checkpoint)
            check_optimizer_state(extra, {key: tuple(p.shape) for key, p in model.named_parameters()},
                                  cfg["optimizer"]["type"], run.checkpoint, cfg["optimizer"]["momentum"])
            steps.steps = restore_optimizer(model, optimizer, extra)
            restore_rng(extra, device, run.checkpoint)
            run.resumed_from(meta)
        elif pretrain is not None:            # killed before the first fine-tuning checkpoint: pretraining resumes
            pretrain(model, dataset, spec, device, out=out, resume=resume, write=leader)
        run.open_metrics(continuing)
        result = run.fit(steps, "torch")
        result.update(device=str(device), state_sha256=state_digest(model))
        if world > 1:
            result["rank"], result["world_size"] = rank, world
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
        return result


@torch.no_grad()
def clamp_parameters(model, clips: dict | None) -> None:
    """Clamp the parameters SPEC['clip'] names (binary layers' latent weights) into their range after a step."""
    for key, (low, high) in (clips or {}).items():
        model.get_parameter(key).clamp_(low, high)


class _Steps:
    """The PyTorch half of a training run (see backends/loop.py, TrainingRun.fit); one process of DDP."""

    def __init__(self, model, optimizer, spec, cfg, dataset, device, float_dtype, world, rank, path):
        self.model, self.optimizer, self.cfg, self.device, self.world, self.path = model, optimizer, cfg, device, \
            world, path
        self.net = model
        if world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                                                 else None)
        self.x_train = _tensor(dataset.x_train, device, float_dtype)
        self.y_train = _tensor(dataset.y_train, device, float_dtype)
        self.x_test, self.y_test = _tensor(dataset.x_test, device, float_dtype), _tensor(dataset.y_test, device,
                                                                                         float_dtype)
        self.loss_kind, self.activation, self.spec = cfg["loss"], spec.get("output_activation"), spec
        self.sampler = None
        if world > 1:
            self.sampler = torch.utils.data.DistributedSampler(range(len(self.x_train)), world, rank, shuffle=True,
                                                               seed=cfg["seed"])
        self.meta = {"spec": spec["name"], "source_hash": spec["source_hash"], "backend": "torch",
                     "dtype": cfg["dtype"]}
        if dataset.vocab:
            self.meta["vocab"] = "".join(dataset.vocab)
        self.steps = 0

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def batches(self, epoch: int):
        self.net.train()
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
            order = torch.tensor(list(self.sampler))
        else:
            order = torch.randperm(len(self.x_train), generator=torch.Generator().manual_seed(self.cfg["seed"] + epoch))
        return order.to(self.device).split(self.cfg["batch_size"])

    def step(self, batch):
        output = self.net(self.x_train[batch])
        target = self.y_train[batch]
        loss = compute_loss(output, target, self.loss_kind, self.activation)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
        self.optimizer.step()
        clamp_parameters(self.model, self.spec.get("clip"))
        self.steps += 1
        accuracy = None
        if self.loss_kind == "cross_entropy":
            accuracy = (output.detach().argmax(-1) == target).double().mean()
        return loss.detach().double(), accuracy

    def totals(self, loss_sum, accuracy_sum, seen: int):
        if self.world > 1:
            values = [loss_sum, 0.0 if accuracy_sum is None else accuracy_sum, float(seen)]
            totals = torch.tensor([float(v) for v in values], device=self.device, dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, accuracy_sum, seen = totals[0], None if accuracy_sum is None else totals[1], int(totals[2])
        return float(loss_sum), None if accuracy_sum is None else float(accuracy_sum), seen

    def evaluate(self) -> dict:
        return evaluate(self.model, self.x_test, self.y_test, self.loss_kind, self.activation)

    def save(self, epoch: int, partial: bool) -> None:
        save(self.path, state_arrays(self.model), {**self.meta, "epoch": epoch, "steps": self.steps,
                                                   "partial": partial},
             {**optimizer_arrays(self.model, self.optimizer, self.steps), **rng_arrays(self.device)})


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
    """`python model.py [options]`: train (or with --sample, generate text); exit 0, 1 with one line, 130 on Ctrl-C."""
    name = spec["name"].replace("%", "%%")            # argparse %-formats the description
    parser = argparse.ArgumentParser(description=f"Train {name} with the settings of its spec (TRAIN).")
    parser.add_argument("--epochs", type=positive_int, help=f"override TRAIN epochs ({train_cfg['epochs']})")
    parser.add_argument("--batch-size", type=positive_int,
                        help=f"samples per step per process ({train_cfg['batch_size']})")
    parser.add_argument("--seed", type=random_seed, help=f"override TRAIN seed ({train_cfg['seed']})")
    parser.add_argument("--dtype", choices=("float32", "float64"))
    parser.add_argument("--data", metavar="PATH", help="override the data path")
    parser.add_argument("--run-dir", "--out", dest="out", metavar="DIR", default=spec["run_dir"],
                        help="checkpoints, metrics.jsonl and training.png go here (default: %(default)s)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help=f"continue from DIR/{CHECKPOINT}")
    again.add_argument("--overwrite", action="store_true", help="discard an earlier run in DIR and start again")
    parser.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads (default: $NETSPEC_THREADS, else torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results last")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    if is_token_model(spec):
        _add_sampling_arguments(parser)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    try:
        if getattr(args, "sample", False):
            set_threads(args.threads)
            checkpoint = args.checkpoint or os.path.join(args.out, CHECKPOINT)
            print(sample_text(build_model, spec, train_cfg, checkpoint, args.prime, args.length, max(args.beam, 1),
                              args.temperature, args.device))
            return 0
        result = fit(build_model, spec, train_cfg, epochs=args.epochs, out=args.out, resume=args.resume,
                     overwrite=args.overwrite, max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed,
                     data={"path": args.data} if args.data else None, dtype=args.dtype,
                     progress=not (args.quiet or args.json), device=args.device, threads=args.threads, hooks=hooks,
                     resume_with=resume_command(f"python {shlex.quote(sys.argv[0] or 'model.py')}", argv))
    except (DataError, CheckpointError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"interrupted; {exc}" if isinstance(exc, Interrupted) else "interrupted", file=sys.stderr)
        return 130
    if args.json:
        # one write per line: under torchrun every rank shares stdout, and print() writes the text and the
        # newline separately, so two ranks' lines could interleave
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    elif result.get("rank", 0) == 0:
        print(done_line(result))
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
