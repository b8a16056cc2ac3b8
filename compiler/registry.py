"""The layer-type registry: one entry per type holds its schema, shape rule and parameter layout.

Adding a layer type is one `register(LayerType(...))` here (in `compiler/layers/`) plus
one lowering per backend.
"""
from __future__ import annotations

import sys

from netspec.errors import did_you_mean, shown
from netspec.record import FrozenRecord, Record

REQUIRED = object()
MAX_INT = 2 ** 31 - 1        # every integer attribute (sizes, strides, seeds) fits an int32
FAMILIES = ("input", "dense", "convolution", "pooling", "shape", "activation", "regularisation",
            "normalisation", "merge", "formula", "attention", "recurrent", "cell", "embedding",
            "energy")


class AttrError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class ShapeError(ValueError):
    """A shape fault found by a layer's shape rule: what was expected, what was found, the fix."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class Attr(FrozenRecord):
    """One attribute of a layer type.

    kind: int | float | bool | str | choice | ints/floats (one or a list) | array (a nested list of numbers) | spatial (int or n-tuple,
    expanded to the layer's spatial rank) | padding (spatial, 'same' or 'valid') | prob | activation (an
    activation type's name, or a mapping {type: name, its attrs...}; see coerce_activation) | names (a list of
    distinct identifiers, as a tuple). check: a str's further validation, value -> None, raising AttrError.
    """

    def __init__(self, name: str, kind: str, default=None, choices: tuple = (), min: float | None = None,
                 max: float | None = None, aliases: tuple = (), doc: str = "", check=None):
        self._init(name=name, kind=kind, default=default, choices=choices, min=min, max=max, aliases=aliases,
                   doc=doc, check=check)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value, spatial_rank: int = 1):
        """Check and normalise one value; raise AttrError with expected vs found."""
        kind = self.kind
        if value is None:
            if self.default is None or None in self.choices:
                return None
            raise AttrError(f"'{self.name}' needs a value, found null",
                            None if self.required else f"write a value, or leave it out for its default ({self.default})")
        if kind == "activation":
            return coerce_activation(self.name, value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise AttrError(f"'{self.name}' must be true or false, found {value!r}")
            return value
        if kind in ("int", "float", "prob"):
            return self._number(value, int if kind == "int" else float)
        if kind == "choice" and isinstance(value, bool) and value in self.choices:
            return value          # a choice that also reads true/false (`binary: true | xnor`)
        if kind in ("choice", "str"):
            if not isinstance(value, str):
                raise AttrError(f"'{self.name}' must be a name, found {shown(value)}")
            if self.choices and value not in self.choices:
                options = [str(c).lower() if isinstance(c, bool) else c for c in self.choices if c is not None]
                raise AttrError(f"'{self.name}' must be one of {', '.join(options)}; found '{value}'",
                                did_you_mean(value, options))
            if self.check:
                self.check(value)
            return value
        if kind == "names":
            items = value if isinstance(value, (list, tuple)) else [value]
            if not all(isinstance(n, str) and n.isidentifier() for n in items) or len(set(items)) < len(items):
                raise AttrError(f"'{self.name}' must list distinct names (identifiers), found {shown(value)}")
            return tuple(items)
        if kind == "array":
            return _array(self.name, value)
        if kind in ("ints", "floats"):
            items = value if isinstance(value, list) else [value]
            return tuple(self._number(item, int if kind == "ints" else float) for item in items)
        if kind in ("spatial", "padding"):
            if kind == "padding" and isinstance(value, str):
                if value in ("same", "valid"):
                    return value
                raise AttrError(f"'{self.name}' must be an int, a list of {spatial_rank} ints, 'same' or "
                                f"'valid'; found '{value}'", did_you_mean(value, ["same", "valid"]))
            if isinstance(value, list):
                if len(value) != spatial_rank:
                    raise AttrError(f"'{self.name}' needs {spatial_rank} value(s) for this layer, "
                                    f"found {len(value)}: {value}")
                return tuple(self._number(item, int) for item in value)
            return (self._number(value, int),) * spatial_rank
        raise AssertionError(f"unknown attr kind {kind}")

    def _number(self, value, kind):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            word = "an integer" if kind is int else "a number"
            hint = "remove the quotes" if isinstance(value, str) and _looks_numeric(value) else None
            raise AttrError(f"'{self.name}' must be {word}, found {shown(value)}", hint)
        if not abs(value) <= (MAX_INT if kind is int else sys.float_info.max):   # also refuses nan
            bound = f"an integer of at most {MAX_INT:,}" if kind is int else "a finite number"
            raise AttrError(f"'{self.name}' must be {bound}, found {shown(value)}")
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise AttrError(f"'{self.name}' must be an integer, found {value}")
            value = int(value)
        value = kind(value)
        low = 0.0 if self.kind == "prob" else self.min
        high = 1.0 if self.kind == "prob" else self.max
        if low is not None and value < low:
            raise AttrError(f"'{self.name}' must be at least {low:g}, found {value:g}")
        if high is not None and (value > high or (self.kind == "prob" and value >= 1.0)):
            bound = "below 1" if self.kind == "prob" else f"at most {high:g}"
            raise AttrError(f"'{self.name}' must be {bound}, found {value:g}")
        return value


class Activation(FrozenRecord):
    """A fused `activation:` of a layer: an activation type's canonical name and its attrs, defaults filled."""

    def __init__(self, type: str, attrs: dict):
        self._init(type=type, attrs=attrs)

    def __hash__(self) -> int:
        return hash((self.type, tuple(self.attrs.items())))


def activation_names() -> list[str]:
    """Every activation type usable as `activation:` (activations without parameters), aliases included."""
    _ensure_loaded()
    return sorted(key for key, name in _ALIASES.items() if _TYPES[name].fusable)


def coerce_activation(attr_name: str, value) -> Activation | None:
    """`relu`, `none` or `{type: leaky_relu, slope: 0.2}` as an Activation (None for none/identity)."""
    _ensure_loaded()
    if isinstance(value, dict):
        attrs = dict(value)
        type_name = attrs.pop("type", None)
    else:
        type_name, attrs = value, {}
    if not isinstance(type_name, str):
        raise AttrError(f"'{attr_name}' must be an activation name or {{type: name, ...}}, found {value!r}",
                        "e.g. 'activation: relu' or 'activation: {type: leaky_relu, slope: 0.2}'")
    if type_name == "none":
        return None
    names = activation_names()
    canonical = _ALIASES.get(type_name)
    if canonical is None or not _TYPES[canonical].fusable:
        hint = did_you_mean(type_name, names)
        if canonical is not None:
            hint = f"'{type_name}' has parameters: add it as a layer of its own after this one"
        canonical_names = sorted({_ALIASES[n] for n in names})
        raise AttrError(f"'{attr_name}' must be none or an activation ({', '.join(canonical_names)}); "
                        f"found '{type_name}'", hint)
    layer_type = _TYPES[canonical]
    out = {}
    for key, item in attrs.items():
        attr = layer_type.attr(key)
        if attr is None:
            raise AttrError(f"activation '{canonical}' has no attribute '{key}'",
                            did_you_mean(key, layer_type.attr_names()) or
                            (f"its attributes: {', '.join(layer_type.attr_names())}" if layer_type.attrs
                             else f"'{canonical}' takes no attributes"))
        out[attr.name] = attr.coerce(item)
    for attr in layer_type.attrs:
        if attr.name not in out:
            if attr.required:
                raise AttrError(f"activation '{canonical}' needs '{attr.name}'", f"add '{attr.name}: ...'")
            out[attr.name] = None if attr.default is None else attr.coerce(attr.default)
    if canonical == "identity":
        return None
    return Activation(canonical, out)


def _array(name: str, value):
    """A number or a rectangular nested list of finite numbers (as floats), else AttrError."""
    def shape_of(item):
        if isinstance(item, (list, tuple)):
            shapes = {shape_of(part) for part in item}
            if len(shapes) > 1:
                raise AttrError(f"'{name}' must have rows of equal length, found {shown(value)}")
            return (len(item), *(shapes.pop() if shapes else ()))
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not abs(item) <= sys.float_info.max:
            raise AttrError(f"'{name}' must hold finite numbers, found {shown(item)} in {shown(value)}")
        return ()

    def floats(item):
        return [floats(part) for part in item] if isinstance(item, (list, tuple)) else float(item)
    shape_of(value)
    return floats(value)


def array_shape(value) -> tuple:
    """The shape of an `array` attr's value (a rectangular nested list, or a number: ())."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _no_params(node, in_shapes):
    return []


def _no_flops(node, in_shapes, out_shape):
    return 0


class Init(FrozenRecord):
    """How a parameter or buffer starts: uniform(-scale, scale), normal(0, scale) or constant(scale).

    zero_row: a row set to zero afterwards (an embedding's padding_idx); dtype 'int64' for counters.
    Backends sample it (backends/runtime/init.py); the generated PyTorch code relies on PyTorch's own
    defaults, which these mirror, and emits init lines where a spec asks for another scheme.
    """

    def __init__(self, kind: str, scale: float = 0.0, zero_row: int | None = None, dtype: str = "float"):
        if kind not in ("uniform", "normal", "constant"):
            raise ValueError(f"unknown initialiser kind {kind!r}")
        self._init(kind=kind, scale=float(scale), zero_row=zero_row, dtype=dtype)


def uniform(bound: float) -> Init:
    return Init("uniform", bound)


def normal(std: float) -> Init:
    return Init("normal", std)


ZEROS = Init("constant", 0.0)
ONES = Init("constant", 1.0)
COUNTER = Init("constant", 0.0, dtype="int64")


def _plain_label(node) -> str:
    return node.op


class LayerType(Record):
    """A layer type: schema, shape rule, parameter layout with initialisers, cost, label and examples.

    infer(node, in_shapes) -> out_shape, raising ShapeError; normalize(attrs) fills defaults that
    depend on other attrs; params/buffers(node, in_shapes) -> [(name, shape, init)] as in PyTorch
    (buffers: non-trained state; init: see compiler/init.py; a 2-tuple means zeros); flops(node,
    in_shapes, out_shape) -> multiply-adds per sample; link(node, graph) resolves attrs that name other
    layers; label(node) -> the diagram's compact description (`conv2d 5x5 /2, 96`). output_dtype None:
    the first input's. examples: small cases the conformance test runs on every backend, each a dict
    {attrs: {...}, inputs: [per-sample shape, ...]} (optional: `dtypes: [...]`; `scale`: the inputs' spread,
    so that values cross the type's kinks; `before: [layer entries]`: layers the case needs first;
    `finite_differences: reason`: skip the numeric gradient check, where a gradient is defined otherwise;
    `output`: the case's output when the layer makes several, e.g. 'under_test.1' of a split).
    fusable: an activation without parameters, usable as `activation:` on other layers.
    """

    def __init__(self, name: str, family: str, attrs: list | None = None, infer=None, normalize=None,
                 params=_no_params, buffers=_no_params, flops=_no_flops, link=None, aliases: tuple = (),
                 min_inputs: int = 1, max_inputs: int = 1, input_dtypes: tuple = ("float32", "float64"),
                 output_dtype: str | None = None, spatial_rank: int = 1, doc: str = "", label=_plain_label,
                 examples: tuple = (), fusable: bool = False):
        self.name = name
        self.family = family
        self.attrs = [] if attrs is None else attrs
        self.infer = infer
        self.normalize = normalize
        self.params = params
        self.buffers = buffers
        self.flops = flops
        self.link = link
        self.aliases = aliases
        self.min_inputs = min_inputs
        self.max_inputs = max_inputs
        self.input_dtypes = input_dtypes
        self.output_dtype = output_dtype
        self.spatial_rank = spatial_rank   # rank used to expand 'spatial' attrs
        self.doc = doc
        self.label = label
        self.examples = tuple(examples)
        self.fusable = fusable

    def attr(self, name: str) -> Attr | None:
        for attr in self.attrs:
            if attr.name == name or name in attr.aliases:
                return attr
        return None

    def attr_names(self) -> list:
        return [a.name for a in self.attrs]


_TYPES: dict[str, LayerType] = {}
_ALIASES: dict[str, str] = {}


def register(layer_type: LayerType) -> LayerType:
    for key in (layer_type.name, *layer_type.aliases):
        if key in _ALIASES:
            raise ValueError(f"layer type '{key}' registered twice")
        _ALIASES[key] = layer_type.name
    _TYPES[layer_type.name] = layer_type
    return layer_type


def _ensure_loaded() -> None:
    if not _TYPES:
        from . import layers  # noqa: F401  (registers every built-in type)


def lookup(type_name: str) -> LayerType | None:
    """The layer type for a name or alias, or None."""
    canonical = _ALIASES.get(type_name)
    if canonical is None:
        if _TYPES:
            return None
        _ensure_loaded()     # the first call: the built-in types register themselves
        canonical = _ALIASES.get(type_name)
    return _TYPES[canonical] if canonical else None


def canonical_name(type_name: str) -> str | None:
    _ensure_loaded()
    return _ALIASES.get(type_name)


def all_types() -> dict[str, LayerType]:
    _ensure_loaded()
    return dict(_TYPES)


def all_type_names() -> list[str]:
    """Every spelling a spec may use for a built-in type, aliases included."""
    _ensure_loaded()
    return sorted(_ALIASES)
