"""The spec language for several outputs and several inputs: a `split` layer's parts are addressed as name.0,
name.1, ...; a block declared with `inputs: [a, b]` takes `from: [x, y]` and sees a and b inside."""
from __future__ import annotations

import pytest

from netspec import load_graph
from netspec.errors import SpecError

GOOD = """
name: parts
input: {shape: [8, 4, 4]}
blocks:
  unit:
    inputs: [left, right]
    params: {filters: 4}
    layers:
      - {type: conv2d, name: conv, filters: "${filters}", kernel: 1, from: right}
      - {type: concat, from: [left, conv]}
layers:
  - {type: split, name: halves, parts: 2}
  - {type: unit, name: u, from: [halves.0, halves.1]}
  - {type: split, name: three, sizes: [2, 2, 4]}
  - {type: add, from: [three.0, three.1]}
output: [add_4, three.2]
"""


def _load(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return load_graph(str(path))


def test_split_parts_and_a_two_input_block(tmp_path):
    graph = _load(tmp_path, GOOD)
    assert graph["halves.0"].shape == (4, 4, 4) and graph["halves.1"].attrs["index"] == 1
    assert graph["three.2"].shape == (4, 4, 4)
    assert graph["u/conv"].inputs == ["halves.1"]                 # `right` is the second input
    assert graph["u/concat_2"].inputs == ["halves.0", "u/conv"]    # `left` the first
    assert graph.outputs == ["add_4", "three.2"]


@pytest.mark.parametrize(("body", "message"), [
    ("  - {type: split, name: s}\n  - relu\n", "'s' is a split with 2 outputs: read one of them"),
    ("  - {type: split, name: s}\n  - {type: relu, from: s}\n", "'s' is a split with 2 outputs"),
    ("  - {type: split, name: s, parts: 3}\n  - {type: relu, from: s.3}\n", "'from' names 's.3'"),
    ("  - {type: split, name: s, parts: 5000}\n", "more than the 1024 allowed"),
    ("  - {type: split, name: s, parts: 3}\n", "does not split into 3 equal parts"),
    ("  - {type: split, name: s, sizes: [3, 3]}\n  - {type: relu, from: s.0}\n", "add up to 6, but axis 0 has 8"),
])
def test_split_faults(tmp_path, body, message):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, f"name: t\ninput: {{shape: [8, 4]}}\nlayers:\n{body}")
    assert message in str(info.value)


@pytest.mark.parametrize(("inputs", "use", "message"), [
    ("[a, b]", "{type: pair, from: x}", "block 'pair' takes 2 inputs (a, b), found 1"),
    ("[a, b]", "{type: pair, from: [x, x, x]}", "takes 2 inputs (a, b), found 3"),
    ("[a, a]", "{type: pair, from: [x, x]}", "must list distinct input names"),
    ("a", "{type: pair, from: [x, x]}", "must list distinct input names"),
    ("[input, b]", "{type: pair, from: [x, x]}", "uses a reserved name"),
])
def test_block_input_faults(tmp_path, inputs, use, message):
    text = (f"name: t\ninput: {{shape: [4]}}\nblocks:\n  pair:\n    inputs: {inputs}\n    layers:\n"
            f"      - {{type: add, from: [a, b]}}\nlayers:\n  - {{type: relu, name: x}}\n  - {use}\n")
    with pytest.raises(SpecError) as info:
        _load(tmp_path, text)
    assert message in str(info.value)
