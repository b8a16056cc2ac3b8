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
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "step", "sign", "identity")
FAMILIES = ("input", "dense", "convolution", "pooling", "shape", "activation", "regularisation",
            "normalisation", "merge", "recurrent", "embedding", "energy")


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

    kind: int | float | bool | str | choice | ints/floats (one or a list) | spatial (int or n-tuple,
    expanded to the layer's spatial rank) | padding (spatial, 'same' or 'valid') | prob.
    """

    def __init__(self, name: str, kind: str, default=None, choices: tuple = (), min: float | None = None,
                 max: float | None = None, aliases: tuple = (), doc: str = ""):
        self._init(name=name, kind=kind, default=default, choices=choices, min=min, max=max, aliases=aliases,
                   doc=doc)

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
        if kind == "bool":
            if not isinstance(value, bool):
                raise AttrError(f"'{self.name}' must be true or false, found {value!r}")
            return value
        if kind in ("int", "float", "prob"):
            return self._number(value, int if kind == "int" else float)
        if kind in ("choice", "str"):
            if not isinstance(value, str):
                raise AttrError(f"'{self.name}' must be a name, found {shown(value)}")
            if self.choices and value not in self.choices:
                options = [c for c in self.choices if c is not None]
                raise AttrError(f"'{self.name}' must be one of {', '.join(options)}; found '{value}'",
                                did_you_mean(value, options))
            return value
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


class LayerType(Record):
    """A layer type: schema, shape rule, parameter layout and cost.

    infer(node, in_shapes) -> out_shape, raising ShapeError; normalize(attrs) fills defaults that
    depend on other attrs; params/buffers(node, in_shapes) -> [(name, shape)] as in PyTorch
    (buffers: non-trained state); flops(node, in_shapes, out_shape) -> multiply-adds per sample;
    link(node, graph) resolves attrs that name other layers. output_dtype None: the first input's.
    """

    def __init__(self, name: str, family: str, attrs: list | None = None, infer=None, normalize=None,
                 params=_no_params, buffers=_no_params, flops=_no_flops, link=None, aliases: tuple = (),
                 min_inputs: int = 1, max_inputs: int = 1, input_dtypes: tuple = ("float32", "float64"),
                 output_dtype: str | None = None, spatial_rank: int = 1, doc: str = ""):
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
    _ensure_loaded()
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
