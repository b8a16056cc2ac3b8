"""Positioned YAML loading (file:line:col of every node, bounds) and spec expansion."""
import pytest

from netspec import load_graph
from netspec.errors import SpecError
from netspec.spec import load_text
from netspec.yamlpos import MAX_ALIASES, MAX_DEPTH, YMap, YSeq, load_yaml_text


def test_positions_of_keys_values_and_items():
    doc = load_yaml_text("name: x\nlayers:\n  - {type: conv2d, kernel: 5}\n  - flatten\n", "f.yaml")
    assert isinstance(doc, YMap) and isinstance(doc["layers"], YSeq)
    assert str(doc.key_pos["layers"]) == "f.yaml:2:1"
    assert str(doc.pos_of("name")) == "f.yaml:1:7"
    layers = doc["layers"]
    assert str(layers.pos_of(0)) == "f.yaml:3:5"
    assert str(layers.pos_of(1)) == "f.yaml:4:5"
    assert str(layers[0].pos_of("kernel")) == "f.yaml:3:28"
    assert str(layers[0].key_pos["kernel"]) == "f.yaml:3:20"


def test_scalars_are_typed_like_yaml_core():
    doc = load_yaml_text("a: 1\nb: 1.5\nc: true\nd: null\ne: '7'\nf: 1.0e-4\n")
    assert doc == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "7", "f": 1e-4}


def _fault(text):
    with pytest.raises(SpecError) as info:
        load_yaml_text(text, "f.yaml")
    assert len(info.value.diagnostics) == 1
    return str(info.value.diagnostics[0])


def test_bounds_and_unsafe_yaml():
    assert "is not allowed; specs are data, not code" in _fault("a: !!python/object:os.system x\n")
    assert "'!!python/tuple'" in _fault("a: !!python/tuple [1, 2]\n")
    assert f"more than {MAX_ALIASES} YAML aliases" in _fault("a: &a 1\nb: [" + ", ".join(["*a"] * 300) + "]\n")
    assert f"deeper than {MAX_DEPTH} levels" in _fault("a: " + "[" * 100 + "]" * 100 + "\n")
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 8)}]\n" for i in range(1, 8))
    assert "alias bomb" in _fault(bomb)
    assert "duplicate key 'a'" in _fault("a: 1\na: 2\n")
    assert "merge keys" in _fault("x: &x {a: 1}\ny: {<<: *x}\n")
    assert "f.yaml:1:1: spec file is empty" in _fault("# only a comment\n")
    assert "larger than" in _fault("a: " + "x" * (3 * 1024 * 1024) + "\n")


def test_a_few_aliases_are_fine():
    doc = load_yaml_text("base: &k 3\nuse: [*k, *k]\n")
    assert doc["use"] == [3, 3]


SPEC = """name: t
vars: {width: 4, stages: 2}
inputs:
  image: {shape: [4, 8, 8]}
  tokens: {shape: [T], dtype: int64}
blocks:
  unit:
    params: {filters: 4}
    layers:
      - {type: conv2d, name: conv, filters: "${filters}", kernel: 3, padding: 1}
      - {type: add, from: [input, conv]}
  stage:
    params: {filters: 4}
    layers:
      - {type: unit, filters: "${filters}", repeat: "${stages}"}
      - relu
layers:
  - {type: stage, name: s1, filters: "${width}", from: image}
  - {type: conv2d, name: side, filters: 4, kernel: 1, from: image}
  - {type: concat, name: both, from: [s1, -1]}
  - global_avgpool
  - {type: linear, name: img, units: 6}
  - {type: embedding, name: emb, vocab: 20, dim: 6, from: tokens}
  - {type: reshape, name: img_step, shape: [1, 6], from: img}
  - {type: concat, name: seq, from: [img_step, emb]}
outputs: [seq, img]
"""


def _graph(tmp_path, text, overrides=None):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_graph(str(path), overrides)


def test_nested_blocks_repeat_from_var_and_references(tmp_path):
    graph = _graph(tmp_path, SPEC)
    names = [n.name for n in graph.layers()]
    assert names[:5] == ["s1/unit_1_1/conv", "s1/unit_1_1/add_2", "s1/unit_1_2/conv", "s1/unit_1_2/add_2",
                         "s1/relu_2"]
    assert graph["s1/unit_1_1/add_2"].inputs == ["image", "s1/unit_1_1/conv"]
    assert graph["s1/unit_1_2/add_2"].inputs == ["s1/unit_1_1/add_2", "s1/unit_1_2/conv"]
    assert graph["both"].inputs == ["s1/relu_2", "side"]      # a block's name means its output
    assert graph["both"].shape == (8, 8, 8)
    assert graph["s1/unit_1_2/conv"].module_path == "s1.unit_1_2.conv"
    assert [s.block for s in graph["s1/unit_1_2/conv"].scope] == ["stage", "unit"]
    assert str(graph["seq"].shape[0]) == "T+1"
    assert graph.outputs == ["seq", "img"]


def test_set_overrides_a_var_everywhere(tmp_path):
    graph = _graph(tmp_path, SPEC, {"stages": 3})
    assert graph["s1/unit_1_3/add_2"].inputs == ["s1/unit_1_2/add_2", "s1/unit_1_3/conv"]
    with pytest.raises(SpecError, match="'image' is 4x8x8 and 's1/unit_1_1/conv' is 8x8x8"):
        _graph(tmp_path, SPEC, {"width": 8})


def test_a_block_as_the_last_layer_is_the_output(tmp_path):
    graph = _graph(tmp_path, "name: t\ninput: {shape: [4, 8, 8]}\nblocks:\n  b:\n    layers: [relu, relu]\n"
                   "layers:\n  - {type: b, name: last}\n")
    assert graph.outputs == ["last/relu_2"]


def test_every_node_knows_its_yaml_line(tmp_path):
    graph = _graph(tmp_path, SPEC)
    assert graph["side"].pos.line == 19
    assert graph["s1/unit_1_1/conv"].pos.line == 10   # inside the block, where it is written
    assert graph["s1/unit_1_1/conv"].scope[0].pos.line == 18


def test_better_spellings_are_accepted(tmp_path):
    text = """name: t
input: {shape: [3, 16, 16]}
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3}
  - {type: bn}
  - {type: maxpool2d, kernel_size: 2}
  - flatten
  - {type: dense, units: 5}
  - {type: fc, units: 4}
"""
    graph = _graph(tmp_path, text)
    assert [n.op for n in graph.layers()] == ["conv2d", "batchnorm", "maxpool2d", "flatten", "linear", "linear"]
    assert graph["conv2d_1"].attrs["filters"] == 4


def test_load_text_reports_every_fault():
    with pytest.raises(SpecError) as info:
        load_text("name: t\ninput: {shape: [4]}\nlayers:\n  - {type: lineer}\n  - {type: relu, from: nowhere}\n",
                  "t.yaml")
    messages = [str(d) for d in info.value.diagnostics]
    assert len(messages) == 2
    assert messages[0].startswith("t.yaml:4:12: unknown layer type 'lineer'")


def test_tagged_scalars_that_do_not_fit_their_tag():
    assert _fault("a: !!int abc\n") == "f.yaml:1:4: 'abc' is not a valid !!int; remove the tag, or write a value of that type"
    assert "'' is not a valid !!int" in _fault("a: !!int ''\n")
    assert "'1' is not a valid !!bool" in _fault("a: !!bool 1\n")
    assert "'x' is not a valid !!null" in _fault("a: !!null x\n")
    assert load_yaml_text("a: !!float 1\nb: !!str 5\nc: !!int 0x1f\nd: 2024-01-31\n") == \
        {"a": 1.0, "b": "5", "c": 31, "d": "2024-01-31"}   # an unquoted date stays text


def test_integers_beyond_a_float_are_refused_before_conversion():
    assert "out of range (5000 characters long)" in _fault("a: " + "9" * 5000 + "\n")
    assert "out of range (1028 bits)" in _fault("a: 0x" + "f" * 257 + "\n")
    assert load_yaml_text("a: " + "9" * 300 + "\n")["a"] == int("9" * 300)


def test_a_control_character_is_located_by_line_and_column():
    message = _fault("name: x\nlayers:\n  - {type: a\x07b}\n")
    assert message.startswith("f.yaml:3:13: control character U+0007 is not allowed in a spec")
    assert "\n" not in message


def test_libyaml_own_nesting_limit_reads_as_ours():
    # PyYAML 6.0.4's libyaml stops flow nesting at 1000 levels while scanning ahead, before our count of 64
    assert f"YAML nesting deeper than {MAX_DEPTH} levels" in _fault("a: " + "[" * 20_000 + "]" * 20_000 + "\n")


@pytest.mark.parametrize("name,ok", [("lenet5", True), ("resnet-18.v2", True), ("_x", True), ("../../x", False),
                                     ("/abs/x", False), ("a/b", False), ("a..b", False), ("a b", False),
                                     ("-x", False), (".hidden", False), ("x" * 129, False), ("ok\\x", False)])
def test_spec_name_is_a_file_safe_word(name, ok):
    text = f"name: {name!r}\ninput: {{shape: [4]}}\nlayers: [{{type: linear, units: 2}}]\n".replace("'", '"')
    if ok:
        assert load_text(text, "f.yaml").name == name
    else:
        with pytest.raises(SpecError, match="the spec's name .* must be a word of letters, digits"):
            load_text(text, "f.yaml")


def test_a_fault_repeated_by_repeat_and_blocks_prints_once(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ninput: {shape: [4]}\nblocks:\n  b:\n    layers: [{type: linear, units: -1, repeat: 100}]\n"
                    "layers:\n  - {type: b, repeat: 100}\n")
    with pytest.raises(SpecError) as info:
        load_graph(str(path))
    assert [str(d) for d in info.value.diagnostics] == [
        f"{path}:5:36: layer 'b_1_1/linear_1_1' (linear): 'units' must be at least 1, found -1 (in 10,000 copies)"]


def test_block_nesting_is_bounded_like_yaml_nesting():
    blocks = "".join(f"  b{i}:\n    layers: [{{type: b{i + 1}}}]\n" for i in range(400))
    text = f"name: d\ninput: {{shape: [4]}}\nblocks:\n{blocks}  b400:\n    layers: [{{type: relu}}]\nlayers: [b0]\n"
    with pytest.raises(SpecError, match=f"blocks nested deeper than {MAX_DEPTH} levels"):
        load_text(text, "f.yaml")


def test_expansion_stops_at_the_layer_bound_without_walking_every_copy():
    import time
    text = ("name: h\ninput: {shape: [4]}\nblocks:\n  b:\n    layers: [{type: relu}]\n  c:\n"
            "    layers: [{type: b, repeat: 10000}]\nlayers: [{type: c, repeat: 10000}]\n")
    start = time.process_time()
    with pytest.raises(SpecError, match="expands to more than 200,000 layers"):
        load_text(text, "f.yaml")
    assert time.process_time() - start < 60   # not 10,000 x 10,000 block instances

