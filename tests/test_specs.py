"""The spec library: every spec checks, published parameter counts, size limits, summary JSON."""
import glob
import json
import os
import subprocess
import sys

import pytest

from netspec import load_graph
from tests.conftest import ROOT, SPECS, each_graph

ALL_SPECS = sorted(glob.glob(os.path.join(SPECS, "*.yaml")))

PUBLISHED_PARAMS = {
    "lenet5.yaml": 61_706,
    "lenet5_1998.yaml": 61_706,
    "alexnet.yaml": 62_378_344,
    "vgg16.yaml": 138_357_544,
    "resnet18.yaml": 11_689_512,
    "resnet50.yaml": 25_557_032,
    "googlenet.yaml": 6_998_552,   # Caffe's bvlc_googlenet without the auxiliary classifiers
    "mlp.yaml": 1_276_810,
}
MAX_LINES = {"googlenet.yaml": 150, "resnet50.yaml": 60}


def test_the_library_is_not_empty():
    names = {os.path.basename(p) for p in ALL_SPECS}
    assert set(PUBLISHED_PARAMS) <= names
    assert {"digits_mlp.yaml", "digits_cnn.yaml", "digits_gru.yaml", "char_lstm.yaml", "captioning.yaml",
            "gru_classifier.yaml"} <= names


@pytest.mark.parametrize("path", ALL_SPECS, ids=os.path.basename)
def test_spec_checks_and_is_documented(path):
    graph = load_graph(path)
    assert graph.total_params > 0
    for _, net in each_graph(graph):
        assert net.outputs and all(net[name].shape for name in net.outputs)
    assert graph.description.strip(), "every library spec needs a description"


@pytest.mark.parametrize("name,count", sorted(PUBLISHED_PARAMS.items()))
def test_published_parameter_counts(name, count):
    assert load_graph(os.path.join(SPECS, name)).total_params == count


@pytest.mark.parametrize("name,limit", sorted(MAX_LINES.items()))
def test_line_limits(name, limit):
    with open(os.path.join(SPECS, name), encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) <= limit


def test_output_shapes_of_classic_nets():
    expected = {"alexnet.yaml": (1000,), "vgg16.yaml": (1000,), "resnet18.yaml": (1000,), "resnet50.yaml": (1000,),
                "googlenet.yaml": (1000,), "digits_cnn.yaml": (10,), "digits_gru.yaml": (10,)}
    for name, shape in expected.items():
        graph = load_graph(os.path.join(SPECS, name))
        assert graph[graph.outputs[0]].shape == shape, name


def test_alexnet_conv1_gives_55x55():
    graph = load_graph(os.path.join(SPECS, "alexnet.yaml"))
    assert graph["conv1"].shape == (96, 55, 55)
    assert graph["norm1"].op == "lrn"


def test_resnet_projection_shortcuts_only_where_shapes_change():
    graph = load_graph(os.path.join(SPECS, "resnet50.yaml"))
    projections = sorted(n.name for n in graph.layers() if n.name.endswith("shortcut/conv"))
    assert projections == [f"layer{i}_0/shortcut/conv" for i in range(1, 5)]
    assert graph["layer3_0/shortcut/conv"].shape == (1024, 14, 14)


def test_googlenet_inception_widths():
    graph = load_graph(os.path.join(SPECS, "googlenet.yaml"))
    widths = {"i3a/out": 256, "i3b/out": 480, "i4a/out": 512, "i4d/out": 528, "i4e/out": 832, "i5b/out": 1024}
    for name, channels in widths.items():
        assert graph[name].shape[0] == channels, name
    assert graph["i5b/out"].shape == (1024, 7, 7)


@pytest.mark.parametrize("name, vocab", [("captioning.yaml", 15), ("captioning_224.yaml", 1000)])
def test_symbolic_dims_flow_through_the_captioning_net(name, vocab):
    graph = load_graph(os.path.join(SPECS, name))
    assert graph.inputs == ["image", "tokens"]
    assert graph["tokens"].dtype == "int64"
    assert str(graph["steps"].shape[0]) == "T+1"
    assert str(graph["logits"].shape[0]) == "T+1" and graph["logits"].shape[1] == vocab


def test_char_lstm_vocab_matches_its_text():
    graph = load_graph(os.path.join(SPECS, "char_lstm.yaml"))
    with open(os.path.join(SPECS, "data", "tiny.txt"), encoding="utf-8") as handle:
        text = handle.read()
    assert 20_000 <= len(text.encode()) <= 40_000
    vocab = len(set(text))
    assert graph["embedding_1"].attrs["vocab"] == vocab
    assert graph[graph.outputs[0]].shape[-1] == vocab


def test_var_overrides_change_the_graph():
    graph = load_graph(os.path.join(SPECS, "digits_mlp.yaml"), {"hidden": 32})
    assert graph["linear_2"].shape == (32,)
    assert graph["linear_4"].shape == (16,)


def test_summary_json_shape():
    result = subprocess.run([sys.executable, "-m", "netspec", "summary", "specs/resnet18.yaml", "--json"],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "resnet18"
    assert data["total_params"] == 11_689_512
    assert data["output_shape"] == [1000]
    assert data["layers"], "layers must not be empty"
    for layer in data["layers"]:
        assert {"name", "type", "output_shape", "params"} <= set(layer)
        assert all(isinstance(d, (int, str)) for d in layer["output_shape"])
    assert sum(layer["params"] for layer in data["layers"]) == data["total_params"]


def test_summary_json_symbolic_dims_are_strings():
    result = subprocess.run([sys.executable, "-m", "netspec", "summary", "specs/char_lstm.yaml", "--json"],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    data = json.loads(result.stdout)
    assert data["output_shape"] == ["T", 52]


def test_check_all_specs_at_once():
    result = subprocess.run([sys.executable, "-m", "netspec", "check", *ALL_SPECS],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(ALL_SPECS)
