"""The `train:` and `pretrain:` sections: validated once here, read by every backend."""
from __future__ import annotations

from compiler.registry import REQUIRED, Attr, AttrError
from compiler.stacks import StackError, check_pretrain_stack

from .errors import Collector, Pos, SpecError, did_you_mean
from .losses import read_loss
from .record import Record

LOSSES = {"cross_entropy": ("softmax_cross_entropy", "ce", "nll"), "mse": ("mean_squared_error", "l2"),
          "bce": ("binary_cross_entropy", "sigmoid_cross_entropy")}
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("none", "step", "exponential", "cosine")
DATASETS = ("digits", "mnist", "npz", "text", "synthetic", "digits_captions", "inline")

OPTIMIZER_ATTRS = [
    Attr("type", "choice", "sgd", choices=OPTIMIZERS), Attr("lr", "float", 0.01, min=0.0, aliases=("learning_rate",)),
    Attr("momentum", "float", 0.0, min=0.0, max=1.0), Attr("nesterov", "bool", False),
    Attr("weight_decay", "float", 0.0, min=0.0), Attr("betas", "floats", (0.9, 0.999), min=0.0, max=1.0),
    Attr("eps", "float", None, min=0.0), Attr("alpha", "float", 0.99, min=0.0, max=1.0, doc="rmsprop smoothing"),
]
SCHEDULE_ATTRS = [
    Attr("type", "choice", "none", choices=SCHEDULES), Attr("every", "int", 10, min=1, aliases=("step_size",)),
    Attr("gamma", "float", 0.1, min=0.0), Attr("min_lr", "float", 0.0, min=0.0, aliases=("eta_min",)),
    Attr("t_max", "int", None, min=1, doc="cosine period in epochs (default: all epochs)"),
]
DATA_ATTRS = [
    Attr("name", "choice", "digits", choices=DATASETS), Attr("path", "str", None),
    Attr("test_fraction", "prob", 0.2, aliases=("test_split", "holdout")),
    Attr("seq_len", "int", 64, min=1, doc="text: characters per training sequence"),
    Attr("samples", "int", None, min=1, doc="use at most this many training samples"),
    Attr("labels", "int", None, min=1, doc="keep labels for only this many training samples"),
    Attr("shift_augment", "bool", False, doc="digits: add one-pixel shifts (5x the data)"),
    Attr("scale", "choice", "unit", choices=("unit", "standard", "none"),
         doc="unit: pixels to [0, 1]; standard: zero mean, unit variance"),
    Attr("as_sequence", "bool", False, doc="images as rows x columns sequences"),
    Attr("classes", "int", None, min=1, doc="synthetic: number of classes"),
    Attr("allow_nan", "bool", False, doc="npz: accept NaN/inf values (refused by default)"),
    Attr("x", "array", None, doc="inline: the samples, one row each (e.g. a truth table); name defaults to inline"),
    Attr("y", "array", None, doc="inline: the targets, one per sample"),
]
TRAIN_ATTRS = [
    Attr("loss", "choice", "cross_entropy", choices=(*LOSSES, *(a for v in LOSSES.values() for a in v))),
    Attr("epochs", "int", 10, min=0), Attr("batch_size", "int", 64, min=1), Attr("seed", "int", 0, min=0),
    Attr("grad_clip", "float", None, min=0.0, aliases=("clip_norm", "gradient_clipping")),
    Attr("dtype", "choice", "float32", choices=("float32", "float64")),
    Attr("task", "choice", None, choices=(None, "classification", "regression", "reconstruction", "language_model")),
    Attr("checkpoint_every", "int", 1, min=1, doc="epochs between checkpoints"),
    Attr("method", "choice", "backprop", choices=("backprop", "perceptron"),
         doc="perceptron: Rosenblatt's rule for a single layer of step or sign units, on the whole data"),
    Attr("lr", "float", None, min=0.0, doc="perceptron: the rule's learning rate (default 1)"),
]
PRETRAIN_ATTRS = [
    Attr("method", "choice", "cd", choices=("cd", "pcd", "dbm", "autoencoder")),
    Attr("k", "int", 1, min=1, max=1000), Attr("epochs", "int", 10, min=0), Attr("lr", "float", 0.05, min=0.0),
    Attr("momentum", "floats", (0.5, 0.9), min=0.0, max=1.0), Attr("momentum_switch", "int", 5, min=0),
    Attr("weight_decay", "float", 2e-4, min=0.0), Attr("batch_size", "int", 64, min=1),
    Attr("persistent", "bool", False), Attr("chains", "int", None, min=1),
    Attr("sparsity", "prob", None), Attr("sparsity_cost", "float", 0.0, min=0.0),
    Attr("init_scale", "float", 0.01, min=0.0), Attr("propagate", "choice", "mean", choices=("mean", "sample")),
    Attr("mean_field_steps", "int", 10, min=1, doc="DBM: mean-field iterations"),
    Attr("joint_epochs", "int", 0, min=0, doc="DBM: joint training epochs after pretraining"),
    Attr("joint_lr", "float", 0.001, min=0.0,
         doc="DBM: joint training's learning rate (small: its persistent chains mix slowly)"),
    Attr("seed", "int", 0, min=0),
]


class Section(Record):
    """A validated mapping with attribute access: cfg.lr, cfg.optimizer.type."""

    def __init__(self, values: dict | None = None):
        self.values = {} if values is None else values

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name, default=None):
        return self.values.get(name, default)

    def as_dict(self) -> dict:
        return {k: v.as_dict() if isinstance(v, Section) else v for k, v in self.values.items()}


def _canonical_loss(name: str) -> str:
    for canonical, aliases in LOSSES.items():
        if name == canonical or name in aliases:
            return canonical
    return name


def _read(raw, attrs, where: str, errors: Collector, pos: Pos, nested: dict | None = None, skip=()) -> Section:
    nested = nested or {}
    if isinstance(raw, str) and "type" in [a.name for a in attrs]:
        raw = {"type": raw}          # optimizer: adam
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.add(pos, f"'{where}' must be a mapping, found {raw!r}")
        raw = {}
    values = {}
    pos_of = getattr(raw, "pos_of", lambda key: pos)
    for key, value in raw.items():
        if key in skip:
            continue
        if key in nested:
            sub_attrs, sub_where = nested[key]
            values[key] = _read(value, sub_attrs, f"{where}.{key}", errors, pos_of(key))
            continue
        attr = next((a for a in attrs if a.name == key or key in a.aliases), None)
        if attr is None:
            names = [a.name for a in attrs] + list(nested)
            errors.add(getattr(raw, "key_pos", {}).get(key, pos_of(key)), f"unknown key '{key}' in '{where}'",
                       hint=did_you_mean(key, names) or f"allowed: {', '.join(names)}")
            continue
        try:
            values[attr.name] = attr.coerce(value)
        except AttrError as exc:
            errors.add(pos_of(key), f"in '{where}': {exc}", hint=exc.hint)
    for attr in attrs:
        if attr.name not in values:
            if attr.required:
                errors.add(pos, f"'{where}' needs '{attr.name}'")
            values[attr.name] = attr.default
    for key, (sub_attrs, sub_where) in nested.items():
        if key not in values:
            values[key] = _read({}, sub_attrs, f"{where}.{key}", errors, pos)
    return Section(values)


def read_section(raw, attrs, where: str, errors: Collector, pos: Pos, nested: dict | None = None) -> Section:
    """A validated `train:`-like section (every default filled) of `attrs`, with `nested` sub-sections."""
    return _read(raw, attrs, where, errors, pos, nested)


def read_train(raw: dict, pos: Pos | None = None, errors: Collector | None = None) -> Section:
    """The validated `train:` section with every default filled."""
    own = errors is None
    errors = Collector() if own else errors
    pos = pos or getattr(raw, "pos", Pos("<spec>"))
    mapping = isinstance(raw, dict) and isinstance(raw.get("loss"), dict)     # one loss per output, or options
    section = _read(raw or {}, TRAIN_ATTRS, "train", errors, pos,
                    nested={"optimizer": (OPTIMIZER_ATTRS, "optimizer"), "schedule": (SCHEDULE_ATTRS, "schedule"),
                            "data": (DATA_ATTRS, "data")}, skip=("loss",) if mapping else ())
    section.values["losses"] = None
    if mapping:
        loss_pos = raw.pos_of("loss") if hasattr(raw, "pos_of") else pos
        section.values["loss"], section.values["losses"] = read_loss(raw["loss"], LOSSES, errors, loss_pos)
    section.values["loss"] = _canonical_loss(section.loss)
    data = section.data
    if data.x is not None or data.y is not None:
        data.values["name"] = "inline"
        if data.x is None or data.y is None or not isinstance(data.x, list) or not isinstance(data.y, list) \
                or len(data.x) != len(data.y) or not data.x:
            errors.add(getattr(raw.get("data", {}), "pos", pos), "inline data needs 'x' and 'y' lists of the same "
                       "(non-zero) length", hint="e.g. 'data: {x: [[0, 0], [0, 1], [1, 0], [1, 1]], y: [0, 0, 0, 1]}'")
    elif data.name == "inline":
        errors.add(getattr(raw.get("data", {}), "pos", pos), "data 'inline' needs 'x' and 'y'",
                   hint="e.g. 'data: {x: [[0, 0], [0, 1]], y: [0, 1]}'")
    if data.name in ("mnist", "npz", "text") and not data.path:
        errors.add(getattr(raw.get("data", {}), "pos", pos) if isinstance(raw, dict) else pos,
                   f"data '{data.name}' needs a 'path'", hint="add 'path: ...' or use 'name: digits'")
    if own:
        errors.raise_if_any()
    return section


def read_pretrain(raw: dict, pos: Pos | None = None, errors: Collector | None = None) -> Section:
    """The validated `pretrain:` section with every default filled."""
    own = errors is None
    errors = Collector() if own else errors
    section = _read(raw or {}, PRETRAIN_ATTRS, "pretrain", errors, pos or getattr(raw, "pos", Pos("<spec>")))
    if own:
        errors.raise_if_any()
    return section


# datasets whose targets are class indices (text: the next character's)
LABEL_DATASETS = ("digits", "mnist", "synthetic", "text", "digits_captions")


def check_loss_fits_data(raw, section: Section, errors: Collector) -> None:
    """mse and bce compare the output with real-valued targets: refuse them against class labels."""
    data = section.data.name
    if section.loss in ("mse", "bce") and data in LABEL_DATASETS and section.task in (None, "classification"):
        pos = raw.pos_of("loss") if hasattr(raw, "pos_of") and "loss" in raw else getattr(raw, "pos", Pos("<spec>"))
        errors.add(pos, f"loss '{section.loss}' needs real-valued targets, but data '{data}' gives class labels",
                   hint="use loss: cross_entropy, or task: reconstruction to learn the input itself")


def check_loss_outputs(graph, section: Section, errors: Collector) -> None:
    """Per-output losses name the graph's outputs, every one of them."""
    entries = section.get("losses") or []
    if not entries or entries[0]["output"] is None:
        return
    raw = graph.train
    pos = raw.pos_of("loss") if hasattr(raw, "pos_of") else getattr(raw, "pos", Pos("<spec>"))
    named = [e["output"] for e in entries]
    for name in named:
        if name not in graph.outputs:
            errors.add(pos, f"train.loss names '{name}', which is not an output (outputs: {', '.join(graph.outputs)})",
                       hint=did_you_mean(name, graph.outputs) or "give one loss per output, named after it")
    missing = [name for name in graph.outputs if name not in named]
    if missing:
        errors.add(pos, f"train.loss gives no loss for output {', '.join(repr(n) for n in missing)}",
                   hint="give one loss per output, named after it")


def check_sections(graph, errors: Collector) -> None:
    """Validate a graph's train/pretrain sections into `errors` (used by `netspec check`); with a
    `pretrain:` section and an otherwise sound graph, also that its rbm layers form a trainable stack."""
    section = read_train(graph.train, errors=errors)
    if graph.train:
        check_loss_fits_data(graph.train, section, errors)
        check_loss_outputs(graph, section, errors)
    if graph.pretrain:
        sound = not errors
        section = read_pretrain(graph.pretrain, errors=errors)
        if sound and not errors:
            try:
                check_pretrain_stack(graph, section.method)
            except StackError as exc:
                errors.add(exc.node.pos, str(exc), exc.node.name, exc.node.op, exc.hint)


__all__ = ["REQUIRED", "Section", "SpecError", "check_sections", "read_pretrain", "read_train"]
