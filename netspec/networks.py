"""Several networks in one spec (`networks:`): each network is expanded and built into its own IR graph.

Top-level `vars` and `blocks` are shared; each network has its own `input(s)`, `layers` and `output(s)`.
A GAN's `train: {method: gan}` is validated by netspec.gan, which also checks that the generator, the
discriminator and the data fit each other.
"""
from __future__ import annotations

import math

from .errors import Collector, Diagnostic, Pos, SpecError, did_you_mean, fmt_shape, shown
from .record import Record
from .yamlpos import YMap

TOP_KEYS = ("netspec", "name", "description", "vars", "blocks", "networks", "train")
NETWORK_KEYS = ("input", "inputs", "layers", "output", "outputs", "description")
SHARED_KEYS = ("netspec", "name", "vars", "blocks")      # copied into every network's own spec


class NetworksSpec(Record):
    """A several-network spec after expansion: one netspec.spec.Spec per network, keyed by name."""

    def __init__(self, path: str, name: str, description: str, specs: dict, train: dict, positions: dict,
                 raw: YMap, source_text: str, diagnostics: list):
        self.path, self.name, self.description = path, name, description
        self.specs = specs              # network name -> Spec
        self.train = train
        self.positions = positions      # network name -> Pos of its entry
        self.raw = raw
        self.source_text = source_text
        self.diagnostics = diagnostics


class Networks(Record):
    """The shape-checked graphs of a several-network spec (what `netspec.api.analyse` returns for one)."""

    def __init__(self, name: str, description: str, graphs: dict, train: dict, source: str, source_text: str,
                 positions: dict):
        self.name, self.description = name, description
        self.graphs = graphs            # network name -> compiler.ir.Graph (its name is the network's)
        self.train = train
        self.source, self.source_text = source, source_text
        self.positions = positions

    def layers(self) -> list:
        return [node for graph in self.graphs.values() for node in graph.layers()]

    @property
    def total_params(self) -> int:
        return sum(graph.total_params for graph in self.graphs.values())

    @property
    def source_hash(self) -> str:
        import hashlib
        return hashlib.sha256(self.source_text.encode()).hexdigest()[:16] if self.source_text else ""

    def state_layout(self) -> dict:
        """Checkpoint key -> (shape, trainable), every key prefixed by its network: 'generator.linear_1.weight'."""
        return {f"{net}.{key}": value for net, graph in self.graphs.items()
                for key, value in graph.state_layout().items()}


def _sub_map(raw: YMap, keys, extra: YMap) -> YMap:
    """A YMap of `raw`'s `keys` plus every entry of `extra`, positions kept."""
    out = YMap(pos=extra.pos)
    for source, names in ((raw, keys), (extra, list(extra))):
        for key in names:
            if key in source:
                out[key] = source[key]
                out.key_pos[key] = source.key_pos.get(key, source.pos)
                out.value_pos[key] = source.value_pos.get(key, source.pos)
    return out


def expand_networks(raw: YMap, path: str, overrides: dict | None, text: str) -> NetworksSpec:
    """Expand each network of a `networks:` spec with the shared vars and blocks; faults in `.diagnostics`."""
    from .spec import expand_one
    errors = Collector()
    for key in raw:
        if key not in TOP_KEYS:
            hint = did_you_mean(key, TOP_KEYS)
            if key in ("input", "inputs", "layers", "output", "outputs"):
                hint = f"with 'networks:', each network declares its own '{key}:'"
            errors.add(raw.key_pos.get(key, raw.pos), f"unknown top-level key '{key}' in a spec with 'networks:'",
                       hint=hint or f"allowed: {', '.join(TOP_KEYS)}")
    networks = raw.get("networks")
    specs, positions = {}, {}
    if not isinstance(networks, YMap) or not networks:
        errors.add(raw.pos_of("networks"), f"'networks:' must map network names to networks, found "
                   f"{shown(networks)}", hint="write e.g. 'networks: {generator: {input: ..., layers: [...]}}'")
        networks = {}
    for net, body in networks.items():
        pos = networks.key_pos.get(net, networks.pos)
        positions[net] = pos
        if not isinstance(net, str) or not net.isidentifier():
            errors.add(pos, f"network name {shown(net)} is not an identifier", hint="use letters, digits and _")
            continue
        if not isinstance(body, YMap):
            errors.add(networks.pos_of(net), f"network '{net}' must be a mapping with input: and layers:, found "
                       f"{shown(body)}")
            continue
        for key in body:
            if key not in NETWORK_KEYS:
                errors.add(body.key_pos.get(key, body.pos), f"unknown key '{key}' in network '{net}'",
                           hint=did_you_mean(key, NETWORK_KEYS) or f"allowed: {', '.join(NETWORK_KEYS)}")
        own = _sub_map(raw, SHARED_KEYS, _sub_map(body, (k for k in NETWORK_KEYS if k in body), YMap(pos=body.pos)))
        if "name" not in raw:
            own["name"] = net
        spec = expand_one(own, path, overrides)
        spec.name = net
        spec.source_text = text
        specs[net] = spec
        errors.diagnostics.extend(spec.diagnostics)
    seen, unique = set(), []
    for diagnostic in errors.diagnostics:     # a shared var's or block's fault is found once per network
        if str(diagnostic) not in seen:
            seen.add(str(diagnostic))
            unique.append(diagnostic)
    train = raw.get("train", YMap())
    name = raw.get("name") if isinstance(raw.get("name"), str) else "unnamed"
    return NetworksSpec(path, name, str(raw.get("description", "") or ""), specs,
                        train if isinstance(train, dict) else {}, positions, raw, text, unique)


def analyse_networks(spec: NetworksSpec) -> tuple[Networks | None, list[Diagnostic]]:
    """Build and shape-check every network, then the training wiring; (Networks or None, faults)."""
    from compiler.build import build
    from compiler.infer import infer

    from .gan import check_gan
    errors = Collector(list(spec.diagnostics))
    graphs = {}
    for net, own in spec.specs.items():
        graph, broken = build(own, errors)
        infer(graph, errors, broken)
        graphs[net] = graph
    networks = Networks(spec.name, spec.description, graphs, spec.train, spec.path, spec.source_text,
                        spec.positions)
    if not errors:
        check_gan(networks, errors)
    return networks, errors.diagnostics


def sample_shape(data_name: str) -> tuple | None:
    """The per-sample shape a bundled dataset gives (None: the file decides)."""
    return {"digits": (1, 8, 8), "mnist": (1, 28, 28)}.get(data_name)


def shapes_fit(a, b) -> bool:
    return tuple(int(d) for d in a) == tuple(int(d) for d in b)


def same_size(shape, other) -> bool:
    return math.prod(int(d) for d in shape) == math.prod(int(d) for d in other)


def wiring_error(pos: Pos, generator: str, g_shape, discriminator: str, d_shape) -> Diagnostic:
    return Diagnostic(pos, f"generator '{generator}' makes samples of shape {fmt_shape(g_shape)} but discriminator "
                      f"'{discriminator}' reads {fmt_shape(d_shape)}",
                      hint="make the generator's last layer give the discriminator's input shape")


__all__ = ["Networks", "NetworksSpec", "SpecError", "analyse_networks", "expand_networks"]


def gan_roles(networks: Networks) -> tuple | None:
    """(generator name, discriminator name) of a spec trained with method: gan, else None."""
    from .gan import is_gan
    train = networks.train
    if not is_gan(train):
        return None
    return train.get("generator", "generator"), train.get("discriminator", "discriminator")


def training_wiring(networks: Networks) -> list:
    """The dashed edges of a GAN's drawing: (source, target, label); [] for networks trained otherwise."""
    roles = gan_roles(networks)
    if roles is None:
        return []
    generator, discriminator = roles
    g_input = networks.graphs[generator][networks.graphs[generator].inputs[0]]
    latent = networks.train.get("latent", "normal")
    data = networks.train.get("data", {}) or {}
    return [(f"noise ({latent})", generator, fmt_shape(g_input.shape)), (generator, discriminator, ""),
            (f"data ({data.get('name', 'digits')})", discriminator, "")]


def require_one_network(graph, path: str, command: str) -> None:
    """`eval`, `predict`, `serve` run one network: refuse a several-network spec with one clear message."""
    if hasattr(graph, "graphs"):
        from .errors import UserError
        raise UserError(f"{path}: spec '{graph.name}' has {len(graph.graphs)} networks "
                        f"({', '.join(graph.graphs)}); {command} runs one network",
                        "draw samples from a GAN's generator with netspec sample SPEC --checkpoint FILE -o grid.png")
