"""Block instances copied from an earlier one (netspec/blockcopy.py) give exactly what expanding them gives."""
import glob
import os

import pytest

from netspec.api import analyse
from netspec.blockcopy import BlockCopies
from tests.conftest import SPECS, each_graph

BLOCKS = """name: copies
input: {shape: [8]}
blocks:
  selfref:                      # a reference by full path: the same layer for every instance
    layers:
      - {type: linear, units: 8}
      - {type: relu, from: selfref_1_1/linear_1}
  out:
    output: mid
    layers:
      - {type: linear, units: 8, name: mid}
      - {type: relu}
      - {type: add, from: [-1, -2]}
  passthru:
    output: input
    layers:
      - {type: relu}
  two:
    inputs: [a, b]
    layers:
      - {type: add, from: [a, b]}
      - {type: linear, units: 8, repeat: 2}
  wide:
    params: {w: 8}
    layers:
      - {type: linear, units: "${w}"}
      - {type: relu, from: input}
      - {type: relu, from: -2}
  outer:
    layers:
      - {type: wide, repeat: 3}
      - {type: wide, w: 4}
      - {type: wide, w: 8, repeat: 2}
layers:
  - {type: selfref, repeat: 3}
  - {type: out, repeat: 4}
  - {type: passthru, repeat: 3}
  - {type: relu, name: x}
  - {type: two, from: [x, -2]}
  - {type: two, from: [-1, x]}
  - {type: outer, repeat: 3}
  - {type: wide, repeat: 2, w: 16}
  - {type: wide, repeat: 2, w: 8}
"""
FAULTS = """name: faults
input: {shape: [8]}
vars: {bad: "${nope}"}
blocks:
  faulty:
    layers:
      - {type: linear, units: "${bad}"}
      - {type: relu}
  zero:
    params: {w: 0}
    layers:
      - {type: linear, units: "${w}"}
      - {type: split, parts: 2, repeat: 2}
layers:
  - {type: faulty, repeat: 3}
  - {type: zero, repeat: 3}
  - {type: zero, w: 4, repeat: 2}
"""
# names so long that the 10th copy of `leaf` passes the 1024-character limit on a layer's full name
LONG = ("name: long\ninput: {shape: [4]}\nblocks:\n  leaf:\n    layers:\n      - {type: relu, name: " + "z" * 119 +
        "}\n      - relu\n  n1:\n    layers:\n      - {type: leaf, name: " + "l" * 128 + ", repeat: 12}\n" +
        "".join(f"  n{i}:\n    layers:\n      - {{type: n{i - 1}, name: {chr(96 + i) * 128}}}\n" for i in range(2, 7)) +
        "layers:\n  - {type: n6, name: " + "q" * 128 + "}\n")


def _dump(path: str) -> list:
    graph, diagnostics = analyse(path)
    out = [str(d) for d in diagnostics]
    for _, net in each_graph(graph) if graph else ():
        out.extend((node.name, node.op, repr(node.attrs), node.inputs, node.shape, [s.path for s in node.scope],
                    [(t.name, t.shape) for t in node.params]) for node in net)
    return out


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", ["blocks", "faults", "long", *map(os.path.basename,
                                                                  glob.glob(os.path.join(SPECS, "*.yaml")))])
def test_copies_give_what_expansion_gives(tmp_path, monkeypatch, name):
    texts = {"blocks": BLOCKS, "faults": FAULTS, "long": LONG}
    path = _write(tmp_path, name + ".yaml", texts[name]) if name in texts else os.path.join(SPECS, name)
    copied = []
    replay = BlockCopies.replay
    monkeypatch.setattr(BlockCopies, "replay", lambda self, *a: copied.append(replay(self, *a)) or copied[-1])
    with_copies = _dump(path)
    monkeypatch.setattr(BlockCopies, "replay", lambda self, *a: None)
    assert with_copies == _dump(path)
    if name == "blocks":
        assert sum(out is not None for out in copied) >= 10    # the copies were used, not only allowed


def test_a_full_path_reference_stays_the_same_layer_in_every_copy(tmp_path):
    graph, diagnostics = analyse(_write(tmp_path, "blocks.yaml", BLOCKS))
    assert not diagnostics
    assert [graph[f"selfref_1_{i}/relu_2"].inputs for i in (1, 2, 3)] == [["selfref_1_1/linear_1"]] * 3
    assert graph["wide_8_2/linear_1"].attrs["units"] == 16 and graph["outer_7_3/wide_2/linear_1"].attrs["units"] == 4


def test_faults_in_copies_are_reported_once_with_their_count(tmp_path):
    _, diagnostics = analyse(_write(tmp_path, "long.yaml", LONG))
    assert [d.message for d in diagnostics] == [
        f"the layer's full name is longer than 1024 characters ({'q' * 40}...) (in 3 copies)"]
    _, diagnostics = analyse(_write(tmp_path, "faults.yaml", FAULTS))
    assert any(d.message.endswith("(in 3 copies)") and "'units'" in d.message for d in diagnostics)


def test_expansion_leaves_no_cycles_behind(tmp_path):
    """The spec's layers die with the graph by reference counting, not at some later collection."""
    import gc
    path = _write(tmp_path, "blocks.yaml", BLOCKS.replace("repeat: 4", "repeat: 500"))
    analyse(path)
    gc.collect()
    graph, _ = analyse(path)
    del graph
    assert gc.collect() == 0


def test_a_block_whose_params_cannot_be_shared_is_never_recorded(tmp_path, monkeypatch):
    copies = []
    init = BlockCopies.__init__
    monkeypatch.setattr(BlockCopies, "__init__", lambda self, *a: copies.append(self) or init(self, *a))
    text = ("name: listparam\ninput: {shape: [4]}\nblocks:\n  tagged:\n    params: {tags: [a]}\n    layers:\n"
            "      - {type: linear, units: 4}\nlayers:\n  - {type: tagged, tags: [x, y], repeat: 50}\n")
    graph, diagnostics = analyse(_write(tmp_path, "listparam.yaml", text))
    assert not diagnostics and len(graph.layers()) == 50
    assert len(copies[0].seen) == 50 and not copies[0].recorded
