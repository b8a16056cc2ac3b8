"""`netspec schema`: the JSON Schema is valid 2020-12, covers the registry, accepts every library spec, and
fails a typo where `netspec check` does, at the attribute's path."""
from __future__ import annotations

import glob
import json
import os

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="the schema tests need the 'jsonschema' package (dev extra)")
from jsonschema.exceptions import best_match

from compiler import registry
from netspec.api import analyse
from netspec.cli import main
from netspec.schema import KNOWN_KINDS, build_schema
from netspec.spec import TOP_KEYS
from netspec.yamlpos import load_yaml_file, load_yaml_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "**", "*.yaml"), recursive=True))
HEAD = "name: t\ninput: {shape: [3, 8, 8]}\n"


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(build_schema())


def test_the_schema_is_valid_draft_2020_12():
    schema = build_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_top_level_key_and_every_attribute_kind_is_described():
    schema = build_schema()
    assert list(schema["properties"]) == list(TOP_KEYS)
    assert not [k for k, v in schema["properties"].items() if "not described" in v.get("description", "")]
    kinds = {attr.kind for t in registry.all_types().values() for attr in t.attrs}
    assert kinds <= set(KNOWN_KINDS), f"add a schema for attribute kind(s) {kinds - set(KNOWN_KINDS)}"


def _rule(schema, type_name):
    return next(r["then"] for r in schema["$defs"]["layer"]["else"]["allOf"] if type_name in r["if"]["properties"]
                ["type"]["enum"])


def test_every_layer_type_its_aliases_attributes_defaults_and_docs_are_in_the_schema():
    schema = build_schema()
    spelt = {c.get("const") for c in schema["$defs"]["type_name"]["anyOf"]}
    for name, layer_type in registry.all_types().items():
        if name == "input":
            continue
        assert {name, *layer_type.aliases} <= spelt
        then = _rule(schema, name)
        for attr in layer_type.attrs:
            for spelling in (attr.name, *attr.aliases):
                assert spelling in then["properties"], (name, spelling)
            if not attr.required and attr.default is not None:
                default = then["properties"][attr.name]["default"]
                assert default == (list(attr.default) if isinstance(attr.default, tuple) else attr.default)
    conv = _rule(schema, "conv2d")["properties"]
    assert conv["init"]["else"]["enum"] == ["default", "xavier", "he", "normal"]
    assert conv["filters"]["else"]["minimum"] == 1
    assert "fused activation" in conv["activation"]["description"]


def test_a_layer_type_registered_later_appears_without_a_hand_edit(monkeypatch, validator):
    new = registry.LayerType("wobble", "activation", attrs=[registry.Attr("amount", "float", 0.5, min=0.0,
                                                                          doc="how much")],
                             doc="a test-only type")
    registry.all_types()                              # load the built-ins before adding one
    monkeypatch.setitem(registry._TYPES, "wobble", new)
    monkeypatch.setitem(registry._ALIASES, "wobble", "wobble")
    schema = build_schema()
    assert _rule(schema, "wobble")["properties"]["amount"]["description"] == "how much"
    check = jsonschema.Draft202012Validator(schema)
    assert not list(check.iter_errors(_yaml(HEAD + "layers: [{type: wobble, amount: 1.5}]")))
    assert best_match(check.iter_errors(_yaml(HEAD + "layers: [{type: wobble, amout: 1}]"))) is not None


@pytest.mark.parametrize("path", SPECS, ids=[os.path.basename(p) for p in SPECS])
def test_every_library_spec_validates(validator, path):
    raw, _ = load_yaml_file(path)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(raw)]
    assert not errors


def _yaml(text):
    return load_yaml_text(text, "t.yaml")


def _check_faults(tmp_path, text) -> list:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return analyse(str(path))[1]


# held-out typos: (layers / sections as written, the path the schema names, a word of its message)
TYPOS = [
    ("layers: [{type: conv2d, filters: 4, kernal: 3}]", ["layers", 0], "kernal"),
    ("layers: [{type: conv2d, filters: '4', kernel: 3}]", ["layers", 0, "filters"], "integer"),
    ("layers: [{type: conv2d, filters: 4, kernel: 3, init: xaviar}]", ["layers", 0, "init"], "xavier"),
    ("layers: [{type: conv2d, filters: 0, kernel: 3}]", ["layers", 0, "filters"], "minimum"),
    ("layers: [{type: conv2d, filters: 4, kernel: 3, padding: samee}]", ["layers", 0, "padding"], "same"),
    ("layers: [{type: conv2d, filters: 4, kernel: [3, 3, 3]}]", ["layers", 0, "kernel"], "too long"),
    ("layers: [{type: conv2d, kernel: 3}]", ["layers", 0], "filters"),
    ("layers: [{type: conv2d, filters: 4, kernel: 3, bias: 'no'}]", ["layers", 0, "bias"], "boolean"),
    ("layers: [{type: dropout, p: 1.5}]", ["layers", 0, "p"], "maximum"),
    ("layers: [{type: linear, units: 4, activation: relux}]", ["layers", 0, "activation"], "relu"),
    ("layers: [{type: linear, units: 4, activation: {type: leaky_relu, slop: 0.1}}]",
     ["layers", 0, "activation"], "slop"),
    ("layers: [{type: flatten, repeat: 0}]", ["layers", 0, "repeat"], "minimum"),
    ("layers: [flatten, {type: linear, units: 3}]\ntrain: {optimizer: {type: adamm}}",
     ["train", "optimizer", "type"], "adam"),
    ("layers: [flatten, {type: linear, units: 3}]\ntrain: {epocs: 3}", ["train"], "epocs"),
    ("layers: [flatten, {type: linear, units: 3}]\ntrain: {data: {name: digits, test_fraction: 1.0}}",
     ["train", "data", "test_fraction"], "maximum"),
    ("layers: [flatten, {type: rbm, hidden: 8}]\npretrain: {method: cdk}", ["pretrain", "method"], "cd"),
    ("blocks: {b: {layers: [relu], param: {}}}\nlayers: [b]", ["blocks", "b"], "param"),
    ("layerz: [relu]\nlayers: [relu]", [], "layerz"),
]


@pytest.mark.parametrize("body,where,word", TYPOS, ids=[t[2] + "@" + "/".join(map(str, t[1])) for t in TYPOS])
def test_a_typo_fails_at_its_path_as_netspec_check_does(validator, tmp_path, body, where, word):
    error = best_match(validator.iter_errors(_yaml(HEAD + body)))
    assert error is not None, "the schema accepted it"
    assert list(error.absolute_path) == where
    assert word in error.message
    assert _check_faults(tmp_path, HEAD + body), "netspec check accepted it"


GOOD = [
    "vars: {w: 4, act: relu}\nlayers: [{type: conv2d, filters: '${w * 2}', kernel: '${w - 1}', activation: '${act}'}]",
    "layers: [{type: conv2d, out_channels: 4, kernel_size: [3, 3], padding: same}, flatten]",
    "layers: [flatten, {type: linear, units: 4, activation: {type: leaky_relu, slope: 0.2}}]",
    ("blocks:\n  unit:\n    params: {c: 4}\n    layers: [{type: conv2d, filters: '${c}', kernel: 1}, relu]\n"
    "layers: [{type: unit, c: 8, repeat: 2}, unit]"),
    "vars: {kind: relu}\nlayers: [{type: '${kind}'}]",
    ("layers: [flatten, {type: linear, units: 3}]\ntrain: {optimizer: adam, schedule: cosine, epochs: 2, "
    "data: {name: digits, test_split: 0.25}}"),
    "layers: [{type: pad, pad: [[1, 0], [0, 1]]}, {type: split, parts: 3}, {type: concat, from: [split_2.0, split_2.2]}]",
]


@pytest.mark.parametrize("body", GOOD)
def test_good_specs_pass_the_schema_and_netspec_check(validator, tmp_path, body):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_yaml(HEAD + body))]
    assert not errors
    assert not _check_faults(tmp_path, HEAD + body)


def test_the_schema_command_writes_the_file_and_stdout(tmp_path, capsys):
    out = tmp_path / "netspec.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == build_schema()
    capsys.readouterr()
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "netspec spec"
    assert main(["schema", "-o", str(tmp_path / "missing" / "s.json")]) == 1


def test_editors_that_read_draft_07_see_the_same_schema(tmp_path):
    """The YAML language server validates with draft-07 semantics: the schema keeps to keywords both drafts share."""
    schema = {**build_schema(), "$schema": "http://json-schema.org/draft-07/schema#"}
    jsonschema.Draft7Validator.check_schema(schema)
    draft7 = jsonschema.Draft7Validator(schema)
    for path in SPECS:
        assert not list(draft7.iter_errors(load_yaml_file(path)[0])), path
    for body, where, _ in TYPOS:
        assert list(best_match(draft7.iter_errors(_yaml(HEAD + body))).absolute_path) == where
