"""A JSON Schema (draft 2020-12) of the spec format, generated from the layer registry and the section schemas.

Editors (the YAML language server behind VS Code, JetBrains and Neovim) complete and validate specs with it.
It sees what a schema can see: keys, attribute types, enums and bounds. A `${...}` string stands wherever a
value can; a type name it does not know (a block) admits any attributes, and `netspec check` does the rest.
"""
from __future__ import annotations

from compiler import registry

from . import config
from .spec import BLOCK_KEYS, DTYPES, FORMAT_VERSION, INPUT_KEYS, LAYER_KEYS, MAX_NAME, MAX_REPEAT, TOP_KEYS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]*$"
VAR = {"type": "string", "pattern": r"\$\{"}     # a `${...}` string: substituted before any check


def _or_var(schema: dict, **notes) -> dict:
    """`schema`, or a `${...}` string (tested first, so a fault is reported against `schema` alone)."""
    return {"if": VAR, "else": schema, **notes}


def _nullable(schema: dict) -> dict:
    """`schema` or null, without an anyOf (so that a fault keeps its plain message)."""
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"if": {"type": "null"}, "else": schema}


def _int(low=None, high=registry.MAX_INT) -> dict:
    out = {"type": "integer"}
    if low is not None:
        out["minimum"] = low
    if high is not None:
        out["maximum"] = high
    return out


def _number(low=None, high=None) -> dict:
    out = {"type": "number"}
    if low is not None:
        out["minimum"] = low
    if high is not None:
        out["maximum"] = high
    return out


def _one_or_list(item: dict, count: int | None = None) -> dict:
    listed = {"type": "array", "items": _or_var(item), "minItems": 1}
    if count is not None:
        listed.update(minItems=count, maxItems=count)
    return {"if": {"type": "array"}, "then": listed, "else": item}


def _pad() -> dict:
    pair = {"type": "array", "items": _or_var(_int(0)), "minItems": 2, "maxItems": 2}
    return {"if": {"type": "array"}, "then": {"items": pair, "minItems": 1}, "else": _int(0)}


def _kind_schema(attr, spatial_rank: int) -> dict | None:
    """The values an attribute of this kind takes (None: a kind this module does not know; any value)."""
    kind = attr.kind
    if kind == "int":
        return _int(attr.min, attr.max if attr.max is not None else registry.MAX_INT)
    if kind == "float":
        return _number(attr.min, attr.max)
    if kind == "prob":
        return {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    if kind == "bool":
        return {"type": "boolean"}
    if kind in ("choice", "str"):
        choices = [c for c in attr.choices if c is not None]
        return {"enum": choices} if choices else {"type": "string"}
    if kind == "ints":
        return _one_or_list(_int(attr.min, attr.max if attr.max is not None else registry.MAX_INT))
    if kind == "floats":
        return _one_or_list(_number(attr.min, attr.max))
    if kind == "spatial":
        return _one_or_list(_int(attr.min, registry.MAX_INT), spatial_rank)
    if kind == "padding":
        return {"if": {"type": "string"}, "then": {"enum": ["same", "valid"]},
                "else": _one_or_list(_int(attr.min, registry.MAX_INT), spatial_rank)}
    if kind == "activation":
        return {"$ref": "#/$defs/activation"}
    if kind == "pad":
        return _pad()
    if kind == "names":
        return {"type": "array", "items": {"type": "string", "pattern": IDENTIFIER}}
    if kind == "array":
        return ARRAY
    return None


KNOWN_KINDS = ("int", "float", "prob", "bool", "choice", "str", "ints", "floats", "spatial", "padding",
               "activation", "pad", "names", "array")
ARRAY = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"$ref": "#/$defs/array"}}],
         "description": "a number or a (nested) list of numbers"}
COMMON_KEYS = ("weights", "trainable")          # keys every layer takes beside its type's (compiler/fixed.py)


def _jsonable(value):
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def attr_schema(attr, spatial_rank: int = 1) -> dict:
    """One attribute's schema: its kind's values or a `${...}` string, with its doc and default."""
    kind = _kind_schema(attr, spatial_rank)
    if kind is not None and (attr.default is None or None in attr.choices):
        kind = _nullable(kind)
    out = {} if kind is None else _or_var(kind)
    words = [attr.doc] if attr.doc else []
    if attr.required:
        words.append("required")
    if attr.aliases:
        words.append("also spelt " + ", ".join(attr.aliases))
    if words:
        out["description"] = "; ".join(words)
    if not attr.required and attr.default is not None:
        out["default"] = _jsonable(attr.default)
    return out


def _attr_properties(attrs, spatial_rank: int = 1) -> tuple[dict, list]:
    """Properties for attrs and their aliases, and the required-ness as schemas (an alias also satisfies it)."""
    properties, required = {}, []
    for attr in attrs:
        schema = attr_schema(attr, spatial_rank)
        properties[attr.name] = schema
        for alias in attr.aliases:
            properties[alias] = {**schema, "description": f"same as '{attr.name}'"}
        if attr.required:          # given by its name, or by an alias instead
            rule = {"required": [attr.name]}
            if attr.aliases:
                rule = {"if": {"not": {"anyOf": [{"required": [alias]} for alias in attr.aliases]}}, "then": rule}
            required.append(rule)
    return properties, required


def _type_names() -> dict:
    """Every spelling of a built-in type (canonical name first), the `input` type left out."""
    out = {}
    for name, layer_type in registry.all_types().items():
        if name != "input":
            out[name] = layer_type
    return out


def _type_name_schema(types: dict) -> dict:
    """A layer's `type`: a built-in (with its one-line doc, for completion), or a block's name, or `${...}`."""
    consts = []
    for name, layer_type in sorted(types.items()):
        consts.append({"const": name, "description": f"{layer_type.family}: {layer_type.doc}".rstrip(": ")})
        consts.extend({"const": alias, "description": f"same as '{name}'"} for alias in layer_type.aliases)
    consts.append({"type": "string", "pattern": IDENTIFIER, "description": "a block defined under 'blocks:'"})
    consts.append(VAR)
    return {"anyOf": consts}


def _layer_rule(layer_type) -> dict:
    """`if type is this built-in then only its attrs` (plus the keys every layer takes)."""
    properties, required = _attr_properties(layer_type.attrs, layer_type.spatial_rank)
    common = {key: {"$ref": f"#/$defs/layer_{key}"} for key in (*LAYER_KEYS, *COMMON_KEYS)}
    then = {"properties": {**common, **properties}, "additionalProperties": False}
    if layer_type.doc:
        then["description"] = layer_type.doc
    if required:
        then["allOf"] = required
    return {"if": {"properties": {"type": {"enum": [layer_type.name, *layer_type.aliases]}}, "required": ["type"]},
            "then": then}


def _activation_schema() -> dict:
    """`activation:` on a layer: a name, or {type: name, its attrs...}."""
    names = registry.activation_names()
    fusable = {registry.canonical_name(n) for n in names}
    rules = []
    for name in sorted(fusable):
        layer_type = registry.lookup(name)
        properties, required = _attr_properties(layer_type.attrs)
        then = {"properties": {"type": True, **properties}, "additionalProperties": False}
        if required:
            then["allOf"] = required
        rules.append({"if": {"properties": {"type": {"enum": [name, *layer_type.aliases]}}, "required": ["type"]},
                      "then": then})
    mapping = {"type": "object", "required": ["type"],
               "properties": {"type": _or_var({"enum": names})}, "allOf": rules}
    return {"description": "a fused activation: its name, or {type: name, its attributes}",
            "if": {"type": "string"}, "then": _or_var({"enum": ["none", *names]}), "else": mapping}


def _section_schema(attrs, nested: dict | None = None, shorthand: bool = False) -> dict:
    """A `train:`-like section: its attrs (aliases too), nested sections, nothing else."""
    properties, required = _attr_properties(attrs)
    properties.update(nested or {})
    out = {"type": ["object", "null"], "properties": properties, "additionalProperties": False}
    if required:
        out["allOf"] = required
    if shorthand:             # optimizer: adam
        kinds = next(a for a in attrs if a.name == "type")
        return {"if": {"type": "string"}, "then": _or_var({"enum": list(kinds.choices)}), "else": out}
    return _or_var(out)


def _layer_ref() -> dict:
    one = {"anyOf": [{"type": "string"}, {"type": "integer", "maximum": -1}]}
    named = {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENTIFIER},
             "additionalProperties": one, "description": "an expr layer's inputs by the names its formula uses"}
    return {"description": "the layer(s) read: a name, a negative index (-1: the previous layer), a list, or a "
                           "mapping of names to layers (expr)",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1}, named]}


def _defs(types: dict) -> dict:
    identifier = {"type": "string", "pattern": IDENTIFIER, "maxLength": MAX_NAME}
    names = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
             "description": "the layer(s) returned (default: the last layer)"}
    dim = _or_var({"if": {"type": "string"}, "then": {"pattern": IDENTIFIER, "description": "a symbolic size, e.g. T"},
                   "else": _int(1)})
    shape = _or_var({"type": "array", "items": dim, "minItems": 1},
                    description="per-sample shape, channels first, no batch dim")
    return {
        "identifier": identifier,
        "type_name": _type_name_schema(types),
        "layer_type": {"$ref": "#/$defs/type_name", "description": "a built-in layer type or a block's name"},
        "layer_name": _or_var(identifier, description="the layer's name (default: type_N)"),
        "layer_from": _layer_ref(),
        "layer_repeat": _or_var(_int(1, MAX_REPEAT), description="this many copies in a row (names get _1, _2, ...)"),
        "layer_weights": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/array"},
                          "description": "given parameter values by name (e.g. {weight: [[0.5, 0.5]], bias: [-0.7]}), "
                                         "checked against the layer's parameter shapes"},
        "layer_trainable": {"type": "boolean", "description": "false: the layer's parameters are frozen"},
        "array": ARRAY,
        "activation": _activation_schema(),
        "layer": {"if": {"type": "string"}, "then": {"$ref": "#/$defs/type_name"}, "else": {
            "type": "object", "required": ["type"],
            "properties": {key: {"$ref": f"#/$defs/layer_{key}"} for key in LAYER_KEYS},
            "allOf": [_layer_rule(layer_type) for _, layer_type in sorted(types.items())]}},
        "layers": {"type": "array", "items": {"$ref": "#/$defs/layer"}, "minItems": 1},
        "input": {"if": {"type": "array"}, "then": {"items": dim, "minItems": 1}, "else": {
            "type": "object", "required": ["shape"], "additionalProperties": False,
             "properties": _keyed(INPUT_KEYS, {"shape": shape, "dtype": {"enum": list(DTYPES), "default": "float32"},
                                               "description": {"type": "string"}})}},
        "block": {"type": "object", "required": ["layers"], "additionalProperties": False, "properties": _keyed(BLOCK_KEYS, {
            "params": {"type": ["object", "null"], "propertyNames": {"pattern": IDENTIFIER},
                       "description": "the block's params and their defaults, read as ${name} inside it"},
            "inputs": {"type": "array", "items": identifier, "minItems": 1, "maxItems": 64, "uniqueItems": True,
                       "description": "the names of a several-input block's inputs, given in order by 'from:'"},
            "layers": {"$ref": "#/$defs/layers"},
            "output": {"type": "string", "description": "the layer the block returns (default: its last)"},
            "state": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENTIFIER},
                      "additionalProperties": {"type": "array", "minItems": 1},
                      "description": "a cell's state: per-sample shapes, zeros at t = 0; the block then runs over time"},
            "update": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENTIFIER},
                       "additionalProperties": {"type": "string"},
                       "description": "a cell's state at t: state name -> the layer holding it"},
            "description": {"type": "string"}})},
        "outputs": names,
        "train": _section_schema(config.TRAIN_ATTRS, {
            "optimizer": _section_schema(config.OPTIMIZER_ATTRS, shorthand=True),
            "schedule": _section_schema(config.SCHEDULE_ATTRS, shorthand=True),
            "data": _section_schema(config.DATA_ATTRS)}),
        "pretrain": _section_schema(config.PRETRAIN_ATTRS),
        "gan_train": _gan_schema(),
    }


def _gan_schema() -> dict:
    """`train: {method: gan, ...}` of a several-network spec (netspec/gan.py)."""
    from . import gan
    one = _section_schema(config.OPTIMIZER_ATTRS, shorthand=True)
    each = {"type": "object", "properties": {role: one for role in gan.ROLES}, "additionalProperties": False,
            "minProperties": 1}
    return _section_schema(gan.GAN_ATTRS, {"optimizer": {"anyOf": [each, one]},
                                           "data": _section_schema(gan.GAN_DATA_ATTRS)})


def _networks_schema() -> dict:
    from .networks import NETWORK_KEYS
    sections = _sections()
    network = {"type": "object", "required": ["layers"], "additionalProperties": False,
               "properties": {key: sections[key] for key in NETWORK_KEYS},
               "anyOf": [{"required": ["input"]}, {"required": ["inputs"]}]}
    return {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENTIFIER},
            "additionalProperties": network,
            "description": "several networks, each with its own input(s), layers and output(s); vars and blocks "
                           "are shared (train them with train: {method: gan, ...})"}


def _sections() -> dict:
    """The schema of every top-level key (one entry per key in spec.TOP_KEYS)."""
    return {
        "netspec": {"const": FORMAT_VERSION, "description": "the spec format version"},
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$", "maxLength": MAX_NAME,
                 "description": "the network's name; it names the files netspec writes"},
        "description": {"type": "string"},
        "vars": {"type": ["object", "null"], "propertyNames": {"pattern": IDENTIFIER},
                 "additionalProperties": {"type": ["number", "boolean", "string"]},
                 "description": "named values, read as ${name} anywhere below (override: --set name=value)"},
        "input": {"$ref": "#/$defs/input", "description": "the one input: {shape: [...], dtype: ...}"},
        "inputs": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENTIFIER},
                   "additionalProperties": {"$ref": "#/$defs/input"}, "description": "several named inputs"},
        "layers": {"$ref": "#/$defs/layers", "description": "the layers in order: a type name or {type: ..., ...}"},
        "blocks": {"type": "object", "propertyNames": {"pattern": IDENTIFIER, "not": {"enum": registry.all_type_names()}},
                   "additionalProperties": {"$ref": "#/$defs/block"},
                   "description": "reusable layer lists, used as layer types"},
        "train": {"if": {"type": "object", "properties": {"method": {"const": "gan"}}, "required": ["method"]},
                  "then": {"$ref": "#/$defs/gan_train"}, "else": {"$ref": "#/$defs/train"}},
        "pretrain": {"$ref": "#/$defs/pretrain"},
        "output": {"$ref": "#/$defs/outputs"},
        "outputs": {"$ref": "#/$defs/outputs"},
    }


def _keyed(keys, schemas: dict) -> dict:
    """One property per key the spec reader knows; a key without a schema here yet admits any value."""
    return {key: schemas.get(key, {"description": "(not described by the schema yet)"}) for key in keys}


def build_schema() -> dict:
    """The JSON Schema of a spec, built from the registry as it stands (a new layer type appears here)."""
    types = _type_names()
    return {
        "$schema": DIALECT,
        "title": "netspec spec",
        "description": "A netspec network definition (generated by 'netspec schema').",
        "type": "object",
        "required": ["name"],
        "anyOf": [{"required": ["layers"], "anyOf": [{"required": ["input"]}, {"required": ["inputs"]}]},
                  {"required": ["networks"], "not": {"anyOf": [{"required": [key]} for key in
                                                               ("input", "inputs", "layers", "output", "outputs")]}}],
        "not": {"required": ["input", "inputs"]},
        "properties": _keyed(TOP_KEYS, {**_sections(), "networks": _networks_schema()}),
        "additionalProperties": False,
        "$defs": _defs(types),
    }


__all__ = ["KNOWN_KINDS", "attr_schema", "build_schema"]
