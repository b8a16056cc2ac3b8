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
from netspec.data import DataError, check_array, load_dataset, read_arrays
from netspec.decode import beam_search, caption_scores, log_softmax
from netspec.multidata import CAPTION_WORDS, Arrays, caption_text, context_arrays, load_multi_dataset, summarize

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


def loss_terms(spec: dict, cfg: dict) -> list:
    """One {'output', 'type', 'weight', 'ignore_index', 'activation'} per output (TRAIN['losses'], else the one
    plain loss of the first output)."""
    return cfg.get("terms") or [{"output": spec.get("output_names", ["output"])[0], "type": cfg["loss"],
                                 "weight": 1.0, "ignore_index": None, "activation": spec.get("output_activation")}]


def run_model(model, x, spec: dict) -> dict:
    """{output name: tensor} for a batch: x is one tensor, or Arrays of tensors named after the inputs."""
    out = model(*[x[name] for name in spec["inputs"]]) if isinstance(x, Arrays) else model(x)
    names = spec.get("output_names", ["output"])
    if len(names) == 1:
        return {names[0]: out[0] if isinstance(out, (tuple, list)) else out}
    return dict(zip(names, out))


def scored_labels(target, output, ignore_index):
    """Class targets as scored: ignore_index ids become -100 (never scored), and a sequence target shorter than
    the output is aligned to its last steps (the first ones, e.g. an image step, are not scored)."""
    if ignore_index is not None:
        target = torch.where(target == ignore_index, torch.full_like(target, -100), target)
    if output.dim() > 2 and target.dim() >= 2 and target.shape[1] < output.shape[1]:
        full = target.new_full((target.shape[0], output.shape[1], *target.shape[2:]), -100)
        full[:, output.shape[1] - target.shape[1]:] = target
        target = full
    return target


def batch_losses(outs: dict, y, terms: list):
    """(weighted total loss, {output: loss}, {output: scored targets})."""
    targets = y.arrays if isinstance(y, Arrays) else {terms[0]["output"]: y}
    total, each, labels = 0.0, {}, {}
    for term in terms:
        name, output = term["output"], outs[term["output"]]
        target = targets[name]
        if term["type"] == "cross_entropy":
            target = scored_labels(target, output, term.get("ignore_index"))
        labels[name] = target
        each[name] = compute_loss(output, target, term["type"], term.get("activation"))
        total = total + term["weight"] * each[name]
    return total, each, labels


def token_hits(output, labels):
    """(correct, counted) argmax predictions, targets of -100 (padding, unscored steps) excluded."""
    counted = labels != -100
    return ((output.argmax(-1) == labels) & counted).sum(), counted.sum()


# ---------------------------------------------------------------- data

def load_data(spec: dict, cfg: dict):
    """(dataset, task): the spec's training data, checked against the model's input and output."""
    loss = None if cfg.get("task") == "reconstruction" else cfg["loss"]    # reconstruction never reads targets
    if len(spec["inputs"]) > 1 or spec.get("outputs", 1) > 1 or cfg["data"]["name"] == "digits_captions":
        inputs = {name: (tuple(info["shape"]), info["dtype"]) for name, info in spec["inputs"].items()}
        dataset = load_multi_dataset(cfg["data"], inputs, spec["output_names"], cfg["seed"], loss)
        for name, info in spec["inputs"].items():
            for split in (dataset.x_train, dataset.x_test):
                check_token_ids(split[name], info.get("vocab"))
        return dataset, dataset.task
    (info,) = spec["inputs"].values()
    is_text = cfg["data"]["name"] == "text"
    shape = tuple(info["shape"])
    if any(isinstance(d, str) for d in shape) and not is_text:
        raise RunError(f"the input shape {shape} has a symbolic dim; only text data (name: text) fits it")
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


def _tensors(data, device, float_dtype):
    """One array, or Arrays of them, as tensors on `device`."""
    if isinstance(data, Arrays):
        return data.map(lambda array: _tensor(array, device, float_dtype))
    return _tensor(data, device, float_dtype)


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
def evaluate(model, x, y, spec: dict, terms: list, batch_size: int = 512) -> dict:
    """Mean loss and (for class targets) accuracy over a held-out split; per output when several."""
    if len(x) == 0:
        return {}
    was_training = model.training
    model.eval()
    total, sums = 0.0, {term["output"]: [0.0, 0, 0] for term in terms}      # loss sum, correct, counted
    for start in range(0, len(x), batch_size):
        outs = run_model(model, x[start:start + batch_size], spec)
        target = y[start:start + batch_size]
        loss, each, labels = batch_losses(outs, target, terms)
        total += float(loss) * len(target)
        for term in terms:
            name = term["output"]
            sums[name][0] += float(each[name]) * len(target)
            if term["type"] == "cross_entropy":
                correct, counted = token_hits(outs[name], labels[name])
                sums[name][1] += int(correct)
                sums[name][2] += int(counted)
    model.train(was_training)
    return summarize(total / len(x), {name: (loss_sum / len(x), correct / counted if counted else None)
                                      for name, (loss_sum, correct, counted) in sums.items()})


# ---------------------------------------------------------------- training

def run_settings(spec: dict, train_cfg: dict, out, threads, device, *, epochs, batch_size, seed, dtype, data):
    """(settings with the caller's overrides, run dir, rank, world size, device): the set-up every fit shares
    (threads set, the process group joined under torchrun)."""
    cfg = copy.deepcopy(train_cfg)
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed), ("dtype", dtype)):
        if value is not None:
            cfg[key] = value
    cfg["data"].update(data or {})
    set_threads(threads)
    rank, world, device = setup_distributed(device)
    return cfg, out or spec["run_dir"], rank, world, device


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
    cfg, out, rank, world, device = run_settings(spec, train_cfg, out, threads, device, epochs=epochs,
                                                 batch_size=batch_size, seed=seed, dtype=dtype, data=data)
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
        return finish_run(run.fit(steps, "torch"), model, device, rank, world)


def finish_run(result: dict, model, device, rank: int, world: int) -> dict:
    """A fit's result with the device and the weights' digest; under torchrun, the ranks meet and leave."""
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
        self.x_train, self.y_train = _tensors(dataset.x_train, device, float_dtype), \
            _tensors(dataset.y_train, device, float_dtype)
        self.x_test, self.y_test = _tensors(dataset.x_test, device, float_dtype), \
            _tensors(dataset.y_test, device, float_dtype)
        self.spec, self.terms = spec, loss_terms(spec, cfg)
        self.sampler = None
        if world > 1:
            self.sampler = torch.utils.data.DistributedSampler(range(len(self.x_train)), world, rank, shuffle=True,
                                                               seed=cfg["seed"])
        self.meta = {"spec": spec["name"], "source_hash": spec["source_hash"], "backend": "torch",
                     "dtype": cfg["dtype"]}
        if dataset.vocab and dataset.task == "language_model":     # characters (caption vocabularies are words)
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
        outs = run_model(self.net, self.x_train[batch], self.spec)
        loss, _each, labels = batch_losses(outs, self.y_train[batch], self.terms)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
        self.optimizer.step()
        clamp_parameters(self.model, self.spec.get("clip"))
        self.steps += 1
        accuracy = None
        for term in self.terms:       # the first class output's accuracy (per token, padding excluded)
            if term["type"] == "cross_entropy":
                correct, counted = token_hits(outs[term["output"]].detach(), labels[term["output"]])
                accuracy = correct.double() / counted.clamp_min(1)
                break
        return loss.detach().double(), accuracy

    def totals(self, loss_sum, accuracy_sum, seen: int):
        if self.world > 1:
            values = [loss_sum, 0.0 if accuracy_sum is None else accuracy_sum, float(seen)]
            totals = torch.tensor([float(v) for v in values], device=self.device, dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, accuracy_sum, seen = totals[0], None if accuracy_sum is None else totals[1], int(totals[2])
        return float(loss_sum), None if accuracy_sum is None else float(accuracy_sum), seen

    def evaluate(self) -> dict:
        return evaluate(self.model, self.x_test, self.y_test, self.spec, self.terms)

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


def token_input_name(spec: dict) -> str | None:
    """The token input that generation extends: the int input whose length is symbolic (None: there is none)."""
    found = [name for name, info in spec["inputs"].items()
             if info["dtype"].startswith("int") and any(isinstance(d, str) for d in info["shape"])]
    return found[0] if len(found) == 1 else None


@torch.no_grad()
def generate_captions(build_model, spec: dict, train_cfg: dict, checkpoint: str, input_path: str, beam: int = 1,
                      max_length: int = 20, alpha: float = 1.0, device: str | None = None) -> dict:
    """Captions for the conditioning inputs of an .npz (as `netspec generate`): greedy or beam search."""
    if train_cfg["data"]["name"] != "digits_captions":
        raise RunError(f"spec '{spec['name']}' trains on '{train_cfg['data']['name']}', which has no caption "
                       "vocabulary", "generate from a spec trained on data: {name: digits_captions}")
    words = list(CAPTION_WORDS)
    model = build_model()
    load_weights(model, checkpoint)
    model.to(parse_device(device or "cpu")).eval()
    tokens = token_input_name(spec)
    found = read_arrays(input_path, DataError, "input file")
    names = [name for name in spec["inputs"] if name != tokens]
    found = found if isinstance(found, dict) else {names[0]: found}
    for key, value in found.items():
        check_array(value, f"{input_path}: array '{key}'")
    context = context_arrays(found, {n: (tuple(spec["inputs"][n]["shape"]), spec["inputs"][n]["dtype"])
                                     for n in names}, input_path, DataError)
    device_of = next(model.parameters()).device

    def step(rows, prefixes):
        batch = Arrays({**{n: context[n][rows] for n in names}, tokens: prefixes})
        x = batch.map(lambda a: _tensor(a, device_of, next(model.parameters()).dtype))
        outs = run_model(model, x, spec)
        return log_softmax(outs[spec["output_names"][0]][:, -1].double().cpu().numpy())
    ids = beam_search(step, len(context), [words.index("<bos>")], words.index("<eos>"), beam, max_length, alpha)
    result = {"spec": spec["name"], "backend": "torch", "beam": beam, "captions": [caption_text(r, words) for r in ids]}
    if "caption" in context:
        result.update(caption_scores(context["caption"], ids, words))
    return result


# ---------------------------------------------------------------- command line

def add_run_options(parser, spec: dict, cfg: dict, section: str, batch_help: str, outputs: str, steps: str) -> None:
    """The options every generated training script takes (the classifier's and the GAN's): overrides of the
    spec's `section` settings, the run directory (`outputs` go there), --resume/--overwrite, --max-steps (counting
    `steps`), device, threads, --json and -q."""
    parser.add_argument("--epochs", type=positive_int, help=f"override {section} epochs ({cfg['epochs']})")
    parser.add_argument("--batch-size", type=positive_int, help=batch_help)
    parser.add_argument("--seed", type=random_seed, help=f"override {section} seed ({cfg['seed']})")
    parser.add_argument("--dtype", choices=("float32", "float64"))
    parser.add_argument("--data", metavar="PATH", help="override the data path")
    parser.add_argument("--run-dir", "--out", dest="out", metavar="DIR", default=spec["run_dir"],
                        help=f"{outputs} go here (default: %(default)s)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help=f"continue from DIR/{CHECKPOINT}")
    again.add_argument("--overwrite", action="store_true", help="discard an earlier run in DIR and start again")
    parser.add_argument("--max-steps", type=positive_int, help=f"stop after this many {steps}")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads (default: $NETSPEC_THREADS, else torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results last")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def run_cli(build_model, spec: dict, train_cfg: dict, argv=None, hooks=None) -> int:
    """`python model.py [options]`: train (or with --sample, generate text); exit 0, 1 with one line, 130 on Ctrl-C."""
    name = spec["name"].replace("%", "%%")            # argparse %-formats the description
    parser = argparse.ArgumentParser(description=f"Train {name} with the settings of its spec (TRAIN).")
    add_run_options(parser, spec, train_cfg, "TRAIN", f"samples per step per process ({train_cfg['batch_size']})",
                    "checkpoints, metrics.jsonl and training.png", "optimizer steps")
    if is_token_model(spec):
        _add_sampling_arguments(parser)
    elif token_input_name(spec):
        _add_caption_arguments(parser)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)

    def job():
        if getattr(args, "input", None) is not None or (getattr(args, "generate", False) and
                                                        not is_token_model(spec)):
            if not args.input:
                raise RunError("--generate needs --input FILE.npz with one array per conditioning input")
            set_threads(args.threads)
            checkpoint = args.checkpoint or os.path.join(args.out, CHECKPOINT)
            result = generate_captions(build_model, spec, train_cfg, checkpoint, args.input, args.beam,
                                       args.max_length, args.alpha, args.device)
            print(json.dumps(result) if args.json else "\n".join(f"{i}: {c}" for i, c in
                                                                   enumerate(result["captions"])))
            return None
        if getattr(args, "sample", False) or getattr(args, "generate", False):
            set_threads(args.threads)
            checkpoint = args.checkpoint or os.path.join(args.out, CHECKPOINT)
            print(sample_text(build_model, spec, train_cfg, checkpoint, args.prime, args.length, max(args.beam, 1),
                              args.temperature, args.device))
            return None
        return fit(build_model, spec, train_cfg, epochs=args.epochs, out=args.out, resume=args.resume,
                   overwrite=args.overwrite, max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed,
                   data={"path": args.data} if args.data else None, dtype=args.dtype,
                   progress=not (args.quiet or args.json), device=args.device, threads=args.threads, hooks=hooks,
                   resume_with=resume_command(f"python {shlex.quote(sys.argv[0] or 'model.py')}", argv))

    return run_and_report(job, args.json)


def run_and_report(job, json_output: bool) -> int:
    """The exit code of a generated file's command: run `job()` (None when it printed its own output), print
    its result (JSON, or the done line on rank 0), and turn data, checkpoint and run errors and Ctrl-C into
    messages."""
    try:
        result = job()
    except (DataError, CheckpointError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"interrupted; {exc}" if isinstance(exc, Interrupted) else "interrupted", file=sys.stderr)
        return 130
    if result is None:
        return 0
    if json_output:
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


def _add_caption_arguments(parser) -> None:
    group = parser.add_argument_group("generation (captioning models)")
    group.add_argument("--generate", action="store_true", help="caption the inputs of --input")
    group.add_argument("--input", metavar="FILE", help=".npz with one array per conditioning input (e.g. image)")
    group.add_argument("--checkpoint", metavar="FILE", help="checkpoint (default: DIR/checkpoint.npz)")
    group.add_argument("--beam", type=positive_int, default=1, help="beam width; 1 is greedy decoding (default)")
    group.add_argument("--max-length", type=positive_int, default=20, help="most tokens per caption (default 20)")
    group.add_argument("--alpha", type=float, default=1.0, help="length normalisation exponent (default 1)")


def _add_sampling_arguments(parser) -> None:
    group = parser.add_argument_group("sampling (character models)")
    group.add_argument("--sample", "--generate", dest="sample", action="store_true",
                       help="generate text from DIR/checkpoint.npz")
    group.add_argument("--checkpoint", metavar="FILE", help="checkpoint to sample from (default: DIR/checkpoint.npz)")
    group.add_argument("--prime", default="The ", help="text to start from (default: %(default)r)")
    group.add_argument("--length", type=non_negative_int, default=200, help="characters to generate (default: %(default)s)")
    group.add_argument("--beam", type=positive_int, default=1, help="beam width; 1 is greedy decoding (default)")
    group.add_argument("--temperature", type=float, default=0.0, help="> 0: sample instead of greedy decoding")
