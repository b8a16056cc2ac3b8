"""Generated PyTorch code: every spec compiles, imports and runs; layouts equal the IR; the code is clean."""
import glob
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, SPECS, each_graph

from backends.torch import generate, load_module
from compiler.dims import Sym
from netspec import load_graph
from netspec.cli import main

torch.set_num_threads(1)
SPEC_FILES = sorted(glob.glob(os.path.join(SPECS, "*.yaml")))
T = 5

FEATURES = """
name: features
inputs:
  image: {shape: [3, 12, 12]}
  seq: {shape: [T, 6]}
blocks:
  res:
    params: {filters: 4}
    layers:
      - {type: conv2d, filters: "${filters}", kernel: 3, padding: same, bias: false, init: he}
      - batchnorm
      - {type: add, from: [input, -1]}
      - relu
  pair:
    layers:
      - res
      - res
layers:
  - {type: conv2d, name: stem, filters: 4, kernel: 3, padding: 1, activation: leaky_relu, from: image}
  - {type: pair, name: p1}
  - {type: pair, name: p2}
  - {type: lrn, size: 3}
  - {type: lppool2d, kernel: 2}
  - {type: avgpool2d, kernel: 2, count_include_pad: false}
  - {type: reshape, name: r, shape: [4, 9]}
  - {type: conv1d, filters: 2, kernel: 3, stride: 2, activation: step}
  - {type: flatten, name: img_vec}
  - {type: lstm, name: bi, hidden: 3, layers: 2, bidirectional: true, dropout: 0.1, from: seq}
  - {type: gru, name: bi_seq, hidden: 2, bidirectional: true, return_sequences: true, from: seq}
  - {type: rnn, name: tanh_rnn, hidden: 2, nonlinearity: relu, from: bi_seq}
  - {type: concat, name: joined, from: [img_vec, bi, tanh_rnn]}
  - {type: rbm, name: energy, hidden: 5}
  - {type: linear, name: head, units: 3, activation: sign, init: xavier}
  - {type: softmax, name: probs, from: energy}
  - {type: linear, name: unused, units: 2, from: energy}
outputs: [head, probs]
"""


def _inputs(graph, batch=2):
    generator = torch.Generator().manual_seed(0)
    args = []
    for name in graph.inputs:
        node = graph[name]
        shape = [d.value({"T": T}) if isinstance(d, Sym) else d for d in node.shape]
        if node.dtype.startswith("int"):
            vocab = min([n.attrs["vocab"] for n in graph.layers() if n.op == "embedding"] or [2])
            args.append(torch.randint(0, vocab, (batch, *shape), generator=generator))
        else:
            args.append(torch.randn(batch, *shape, generator=generator))
    return args


def _expected_shape(node):
    return tuple(d.value({"T": T}) if isinstance(d, Sym) else d for d in node.shape)


def _check_module(graph):
    module = load_module(graph, generate(graph, format_code=False))
    model = module.build_model()
    state = model.state_dict()
    layout = graph.state_layout()
    assert list(state) == list(layout), "state_dict keys differ from the IR's checkpoint keys"
    for key, (shape, _) in layout.items():
        assert tuple(state[key].shape) == tuple(shape), key
    assert sum(p.numel() for p in model.parameters()) == graph.total_params
    model.eval()
    with torch.no_grad():
        out = model(*_inputs(graph))
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(graph.outputs)
    for tensor, name in zip(outs, graph.outputs):
        assert tuple(tensor.shape) == (2, *_expected_shape(graph[name])), name
        assert torch.isfinite(tensor).all()
    return module, model


@pytest.mark.parametrize("path", SPEC_FILES, ids=[os.path.basename(p) for p in SPEC_FILES])
def test_every_spec_compiles_and_matches_summary(path):
    for _, graph in each_graph(load_graph(path)):
        _check_module(graph)


@pytest.fixture(scope="module")
def features_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "features.yaml"
    path.write_text(FEATURES)
    return load_graph(str(path))


def test_all_layer_kinds_lower_with_exact_layouts(features_graph):
    _check_module(features_graph)
    source = generate(features_graph)
    # one class per distinct block configuration, shared by identical instances
    assert source.count("class Res(nn.Module)") == 1 and source.count("class Pair(nn.Module)") == 1
    assert "self.p1 = Pair()" in source and "self.p2 = Pair()" in source
    assert "nn.LocalResponseNorm(3)" in source and "nn.LPPool2d(2, 2)" in source
    assert 'nn.LSTM(6, 3, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True)' in source
    assert "F.leaky_relu(self.stem(image))" in source and "torch.sign(" in source


def test_semantics_of_recurrent_rbm_and_activations(features_graph):
    module = load_module(features_graph, generate(features_graph, format_code=False))
    model = module.build_model().eval()
    image, seq = _inputs(features_graph)
    captured = {}
    model.bi.register_forward_hook(lambda m, i, o: captured.update(bi=o))
    model.energy.register_forward_hook(lambda m, i, o: captured.update(energy=(i[0], o)))
    model.conv1d_8.register_forward_hook(lambda m, i, o: captured.update(conv=o))
    with torch.no_grad():
        head, probs = model(image, seq)
        steps, (h_n, _) = captured["bi"]
    # bidirectional, return_sequences false: forward's last step and backward's first step = final states
    last = torch.cat([steps[:, -1, :3], steps[:, 0, 3:]], dim=-1)
    assert torch.allclose(last, torch.cat([h_n[-2], h_n[-1]], dim=-1), atol=1e-6)
    visible, hidden = captured["energy"]
    rbm = model.energy
    assert tuple(rbm.weight.shape) == (5, visible.shape[1]) and tuple(rbm.visible_bias.shape) == (visible.shape[1],)
    assert torch.allclose(hidden, torch.sigmoid(visible @ rbm.weight.T + rbm.bias), atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(2), atol=1e-6)
    assert set(head.unique().tolist()) <= {-1.0, 0.0, 1.0}
    pre_step = captured["conv"].flatten(1)          # the conv's output before its fused `step`
    assert torch.equal(visible[:, :8], (pre_step > 0).float())     # img_vec leads the concat


def test_generated_files_pass_ruff(tmp_path, features_graph):
    ruff = pytest.importorskip("ruff.__main__").find_ruff_bin()
    files = []
    for path in SPEC_FILES:
        graph = load_graph(path)
        target = tmp_path / f"{graph.name}.py"
        target.write_text(generate(graph))
        files.append(str(target))
    target = tmp_path / "features.py"
    target.write_text(generate(features_graph))
    files.append(str(target))
    check = subprocess.run([ruff, "check", "--isolated", *files], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    formatted = subprocess.run([ruff, "format", "--isolated", "--line-length", "120", "--check", *files],
                               capture_output=True, text=True, check=False)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_compile_cli_writes_a_standalone_file(tmp_path, capsys):
    out = tmp_path / "model.py"
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    assert main(["compile", spec, "--target", "torch", "-o", str(out)]) == 0
    source = out.read_text()
    graph = load_graph(spec)
    assert graph.name in source and graph.source_hash in source and "Total params: " in source
    assert "def build_model()" in source and "TRAIN = {" in source
    # runs with netspec unimportable: data, progress and checkpoint code are inlined
    code = ("import sys, runpy\nfor name in ('netspec', 'backends', 'compiler'): sys.modules[name] = None\n"
            f"sys.argv = ['model.py', '--epochs', '1', '--max-steps', '3', '--out', {str(tmp_path / 'run')!r}, "
            "'--json']\nrunpy.run_path(sys.argv[0], run_name='__main__')")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH="")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"backend": "torch"' in done.stdout.splitlines()[-1]
    assert (tmp_path / "run" / "checkpoint.npz").exists()


def test_compile_cli_bad_usage(tmp_path, capsys):
    spec = os.path.join(SPECS, "digits_mlp.yaml")
    assert main(["compile", spec, "--target", "tensorflow", "-o", str(tmp_path / "m.py")]) == 2
    assert main(["compile", spec, "--target", "onnx"]) == 2
    assert main(["compile", spec, "-o", str(tmp_path)]) == 1
    assert "netspec: error:" in capsys.readouterr().err


def test_prints_source_to_stdout(capsys):
    assert main(["compile", os.path.join(ROOT, "specs", "digits_cnn.yaml")]) == 0
    out = capsys.readouterr().out
    compile(out, "model.py", "exec")
    assert "class DigitsCnn(nn.Module):" in out


FUSED_ATTRS = """
name: fused_attrs
input: {shape: [2, 5, 5]}
layers:
  - {type: conv2d, name: conv, filters: 3, kernel: 3, activation: {type: softmax, axis: 0}}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, units: 4, activation: {type: leaky_relu, slope: 0.2}}
"""


def test_fused_activation_attrs_reach_the_generated_code(tmp_path):
    path = tmp_path / "fused.yaml"
    path.write_text(FUSED_ATTRS)
    graph = load_graph(str(path))
    source = generate(graph, format_code=False)
    assert "F.leaky_relu(self.fc(flat), 0.2)" in source
    assert "F.softmax(self.conv(x), dim=1)" in source        # per-sample axis 0: the channels
    model = load_module(graph, source).build_model().eval()
    (x,) = _inputs(graph)
    with torch.no_grad():
        conv = torch.softmax(model.conv(x), dim=1)
        expected = torch.nn.functional.leaky_relu(model.fc(conv.flatten(1)), 0.2)
        assert (model.fc(conv.flatten(1)) < 0).any()      # the slope matters for this input
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_init_schemes_sample_the_schemas_initialisers(tmp_path):
    path = tmp_path / "init.yaml"
    path.write_text("name: inits\ninput: {shape: [8, 12, 12]}\nlayers:\n"
                    "  - {type: conv2d, name: he, filters: 64, kernel: 3, init: he}\n"
                    "  - {type: flatten, name: flat}\n"
                    "  - {type: linear, name: xavier, units: 200, init: xavier}\n"
                    "  - {type: linear, name: small, units: 300, init: normal, bias: false}\n")
    graph = load_graph(str(path))
    torch.manual_seed(0)
    model = load_module(graph, generate(graph, format_code=False)).build_model()
    bound = (6 / (6400 + 200)) ** 0.5                                 # xavier: U(+-sqrt(6 / (fan_in + fan_out)))
    assert bound * 0.99 < model.xavier.weight.abs().max() <= bound and not model.xavier.bias.any()
    assert abs(model.he.weight.std() / (2 / 72) ** 0.5 - 1) < 0.05    # he: N(0, sqrt(2 / fan_in))
    assert not model.he.bias.any() and abs(model.small.weight.std() / 0.01 - 1) < 0.05


DEAD_BLOCKS = """name: dead_blocks
input: {shape: [8]}
blocks:
  two:
    layers:
      - {type: linear, units: 4}
      - relu
layers:
  - {type: linear, name: a, units: 3}
  - {type: two, name: b, from: input}        # read by c only
  - {type: two, name: c, from: b, repeat: 2}  # read by nothing
output: a
"""


def test_block_instances_that_feed_no_output_compile_and_run(tmp_path):
    """A block's class serves all its instances: one nobody reads still returns its last layer, and the
    model skips it (its parameters are kept)."""
    path = tmp_path / "dead.yaml"
    path.write_text(DEAD_BLOCKS)
    graph = load_graph(str(path))
    source = generate(graph)
    assert "# c_2: no output depends on it" in source
    module = load_module(graph, source)
    model = module.build_model()
    assert sum(p.numel() for p in model.parameters()) == graph.total_params
    out = model(torch.zeros(2, 8))
    assert tuple(out.shape) == (2, 3)
    assert tuple(model.c_2(torch.zeros(2, 4)).shape) == (2, 4)
