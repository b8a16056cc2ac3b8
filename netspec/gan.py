"""The `train: {method: gan}` section of a several-network spec: validated here, read by every backend.

    train: {method: gan, generator: generator, discriminator: discriminator, latent: normal,
            optimizer: {type: adam, lr: 0.0002, betas: [0.5, 0.999]},     # or {generator: ..., discriminator: ...}
            epochs: 300, batch_size: 64, data: {name: digits, range: [-1, 1]}, label_smoothing: 0.1, d_steps: 1}
"""
from __future__ import annotations

from compiler.registry import Attr

from .config import DATA_ATTRS, OPTIMIZER_ATTRS, Section, read_section
from .errors import Collector, Pos, did_you_mean, fmt_shape
from .networks import same_size, sample_shape, shapes_fit, wiring_error

GAN_ATTRS = [
    Attr("method", "choice", "gan", choices=("gan",)),
    Attr("generator", "str", "generator", aliases=("g",)),
    Attr("discriminator", "str", "discriminator", aliases=("d", "critic")),
    Attr("latent", "choice", "normal", choices=("normal", "uniform"), aliases=("noise",)),
    Attr("epochs", "int", 10, min=0), Attr("batch_size", "int", 64, min=1), Attr("seed", "int", 0, min=0),
    Attr("dtype", "choice", "float32", choices=("float32", "float64")),
    Attr("label_smoothing", "prob", 0.0, doc="one-sided: real targets are 1 - label_smoothing"),
    Attr("d_steps", "int", 1, min=1, max=100, doc="discriminator steps per generator step"),
    Attr("checkpoint_every", "int", 1, min=1, doc="epochs between checkpoints"),
    Attr("samples", "int", 64, min=1, max=1024, doc="fixed-noise samples in each epoch's grid"),
]
GAN_DATA_ATTRS = [*DATA_ATTRS, Attr("range", "floats", (-1.0, 1.0), doc="the pixel range samples live in")]
ROLES = ("generator", "discriminator")


def is_gan(train) -> bool:
    return isinstance(train, dict) and train.get("method") == "gan"


def read_gan(raw: dict, errors: Collector | None = None) -> Section:
    """The validated GAN section; `optimizer` becomes {'generator': Section, 'discriminator': Section}."""
    own = errors is None
    errors = Collector() if own else errors
    pos = getattr(raw, "pos", Pos("<spec>"))
    raw_opt = raw.get("optimizer")
    rest = type(raw)({k: v for k, v in raw.items() if k != "optimizer"})
    for attr in ("pos", "key_pos", "value_pos"):
        if hasattr(raw, attr):
            setattr(rest, attr, getattr(raw, attr))
    section = read_section(rest, GAN_ATTRS, "train", errors, pos, nested={"data": (GAN_DATA_ATTRS, "data")})
    opt_pos = raw.pos_of("optimizer") if hasattr(raw, "pos_of") else pos
    if isinstance(raw_opt, dict) and set(raw_opt) & set(ROLES):
        extra = [k for k in raw_opt if k not in ROLES]
        for key in extra:
            errors.add(opt_pos, f"unknown key '{key}' in 'train.optimizer'",
                       hint="give one optimizer, or one per network: {generator: ..., discriminator: ...}")
        shared = raw_opt.get("generator") or raw_opt.get("discriminator")
        optimizers = {role: read_section(raw_opt.get(role, shared), OPTIMIZER_ATTRS, f"train.optimizer.{role}", errors,
                                  opt_pos) for role in ROLES}
    else:
        one = read_section(raw_opt, OPTIMIZER_ATTRS, "train.optimizer", errors, opt_pos)
        optimizers = {role: one for role in ROLES}
    section.values["optimizer"] = optimizers
    low, high = (tuple(section.data.range) + (None,))[:2] if section.data.range else (None, None)
    if high is None or not low < high:
        errors.add(getattr(raw.get("data", {}), "pos", pos), f"'train.data.range' must be [low, high] with "
                   f"low < high, found {list(section.data.range)}", hint="write e.g. range: [-1, 1]")
    if own:
        errors.raise_if_any()
    return section


def check_gan(networks, errors: Collector) -> None:
    """The train section of a several-network spec: a GAN whose generator output fits the discriminator's
    input and the data's samples (one located message naming both networks otherwise)."""
    train = networks.train
    if not train:
        return
    pos = getattr(train, "pos", Pos(networks.source))
    if not is_gan(train):
        errors.add(train.pos_of("method") if "method" in train else pos,
                   f"a spec with several networks trains them with 'method: gan', found "
                   f"{train.get('method')!r}", hint="write 'train: {method: gan, generator: ..., discriminator: ...}'")
        return
    section = read_gan(train, errors)
    graphs = networks.graphs
    roles = {}
    for role in ROLES:
        name = section.get(role)
        if name not in graphs:
            errors.add(train.pos_of(role) if role in train else pos,
                       f"train.{role}: there is no network '{name}'",
                       hint=did_you_mean(str(name), graphs) or f"networks are: {', '.join(graphs)}")
            continue
        graph = graphs[name]
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            errors.add(networks.positions.get(name, pos), f"{role} '{name}' must have one input and one output, "
                       f"found {len(graph.inputs)} and {len(graph.outputs)}")
            continue
        roles[role] = graph
    if errors or len(roles) < 2:
        return
    generator, discriminator = roles["generator"], roles["discriminator"]
    g_shape = generator[generator.outputs[0]].shape
    d_shape = discriminator[discriminator.inputs[0]].shape
    if not shapes_fit(g_shape, d_shape):
        where = discriminator[discriminator.inputs[0]].pos or networks.positions[discriminator.name]
        errors.diagnostics.append(wiring_error(where, generator.name, g_shape, discriminator.name, d_shape))
        return
    d_out = discriminator[discriminator.outputs[0]].shape
    if not same_size(d_out, (1,)):
        errors.add(discriminator[discriminator.outputs[0]].pos, f"discriminator '{discriminator.name}' must give "
                   f"one logit per sample, found {fmt_shape(d_out)}", hint="end it with {type: linear, units: 1}")
    data_shape = sample_shape(section.data.name)
    if data_shape is not None and not same_size(data_shape, d_shape):
        errors.add(train.pos_of("data") if "data" in train else pos,
                   f"data '{section.data.name}' has samples of shape {fmt_shape(data_shape)} but generator "
                   f"'{generator.name}' makes {fmt_shape(g_shape)} and discriminator '{discriminator.name}' reads "
                   f"{fmt_shape(d_shape)}", hint="make both networks' sample shape the data's")
    if discriminator[discriminator.outputs[0]].activation == "sigmoid" or \
            discriminator[discriminator.outputs[0]].op == "sigmoid":
        errors.add(discriminator[discriminator.outputs[0]].pos, f"discriminator '{discriminator.name}' ends with a "
                   "sigmoid, but the GAN loss takes logits (BCE with logits)", hint="remove the final sigmoid")
