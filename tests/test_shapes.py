"""The conv/pool output formula against brute force and against PyTorch's real output shapes."""
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from compiler.dims import Sym
from compiler.layers.common import window_out
from compiler.registry import ShapeError
from netspec.spec import load_text


def brute_force_windows(n, kernel, stride, pad, dilation, ceil_mode=False):
    """Count window positions by walking them over the padded input."""
    span = dilation * (kernel - 1) + 1
    padded = n + 2 * pad
    starts = []
    start = 0
    while start + span <= padded:
        starts.append(start)
        start += stride
    # ceil mode: one more window, partly outside, when elements are left uncovered and it still
    # starts in the input or the left padding
    if ceil_mode and starts and starts[-1] + span < padded and start < n + pad:
        starts.append(start)
    return len(starts)


windows = st.tuples(st.integers(1, 64), st.integers(1, 9), st.integers(1, 5), st.integers(0, 4), st.integers(1, 3))


@settings(max_examples=400, deadline=None)
@given(windows, st.booleans())
def test_formula_matches_brute_force(params, ceil_mode):
    n, kernel, stride, pad, dilation = params
    if ceil_mode:
        pad = min(pad, kernel // 2)   # ceil mode is a pooling option, and pools pad at most half the kernel
        assume(n + 2 * pad >= dilation * (kernel - 1) + 1)   # a lone partial window: compared with torch below
    expected = brute_force_windows(n, kernel, stride, pad, dilation, ceil_mode)
    if expected == 0:
        with pytest.raises(ShapeError, match="is not positive"):
            window_out(n, kernel, stride, pad, dilation, ceil_mode, str(n), str(kernel))
    else:
        assert window_out(n, kernel, stride, pad, dilation, ceil_mode) == expected


@given(st.integers(1, 8), st.integers(1, 4), st.integers(0, 3))
def test_symbolic_lengths_follow_the_same_formula(kernel, stride, pad):
    out = window_out(Sym("T"), kernel, stride, pad)
    for t in (40, 41, 57):
        concrete = (t + 2 * pad - kernel) // stride + 1
        assert _eval_sym(out, t) == concrete


def _eval_sym(value, t):
    if isinstance(value, int):
        return value
    text = str(value).replace("T", str(t))
    allowed = set("0123456789+-*/() ")
    assert set(text) <= allowed, text
    return eval(text)   # digits and operators only, checked above


def test_shape_error_shows_the_formula():
    with pytest.raises(ShapeError) as info:
        window_out(2, 5, 1, 0, 1, False, "16x2x2", "5x5")
    assert "output size (2 + 2*0 - 5)/1 + 1 = -2 is not positive" in str(info.value)


def infer_shape(layer: str, input_shape):
    spec_text = f"name: t\ninput: {{shape: {list(input_shape)}}}\nlayers:\n  - {layer}\n"
    from compiler.build import build
    from compiler.infer import infer
    from netspec.errors import Collector
    errors = Collector()
    graph, broken = build(load_text(spec_text, "t.yaml"), errors)
    infer(graph, errors, broken)
    if errors:
        return None
    return graph[graph.outputs[0]].shape


torch = pytest.importorskip("torch", reason="PyTorch is needed to compare with real output shapes")


def torch_shape(module, input_shape):
    try:
        with torch.no_grad():
            return tuple(module(torch.zeros(1, *input_shape)).shape[1:])
    except RuntimeError:
        return None   # PyTorch rejects it (output size too small)


conv_params = st.tuples(st.integers(1, 4), st.integers(3, 24), st.integers(3, 24), st.integers(1, 6),
                        st.integers(1, 4), st.integers(0, 3), st.integers(1, 2), st.sampled_from([1, 2]))


@settings(max_examples=60, deadline=None)
@given(conv_params)
def test_conv2d_agrees_with_torch(params):
    channels, height, width, kernel, stride, pad, dilation, groups = params
    filters = 2 * groups
    channels *= groups
    ours = infer_shape(f"{{type: conv2d, filters: {filters}, kernel: {kernel}, stride: {stride}, padding: {pad}, "
                       f"dilation: {dilation}, groups: {groups}}}", (channels, height, width))
    theirs = torch_shape(torch.nn.Conv2d(channels, filters, kernel, stride, pad, dilation, groups),
                         (channels, height, width))
    assert ours == theirs


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(2, 40), st.integers(1, 7), st.integers(1, 3), st.integers(0, 3))
def test_conv1d_agrees_with_torch(channels, length, kernel, stride, pad):
    ours = infer_shape(f"{{type: conv1d, filters: 4, kernel: {kernel}, stride: {stride}, padding: {pad}}}",
                       (channels, length))
    theirs = torch_shape(torch.nn.Conv1d(channels, 4, kernel, stride, pad), (channels, length))
    assert ours == theirs


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(3, 20), st.integers(3, 20))
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_agrees_with_torch(kernel, height, width):
    ours = infer_shape(f"{{type: conv2d, filters: 3, kernel: {kernel}, padding: same}}", (2, height, width))
    theirs = torch_shape(torch.nn.Conv2d(2, 3, kernel, padding="same"), (2, height, width))
    assert ours == theirs


pool_params = st.tuples(st.integers(2, 30), st.integers(2, 30), st.integers(1, 5), st.integers(1, 4),
                        st.integers(0, 2), st.booleans())


@settings(max_examples=80, deadline=None)
@given(pool_params, st.sampled_from(["maxpool2d", "avgpool2d"]))
def test_pool2d_agrees_with_torch(params, kind):
    height, width, kernel, stride, pad, ceil_mode = params
    pad = min(pad, kernel // 2)          # PyTorch's own rule; ours reports it (tested in the corpus)
    layer = (f"{{type: {kind}, kernel: {kernel}, stride: {stride}, padding: {pad}, "
             f"ceil_mode: {str(ceil_mode).lower()}}}")
    ours = infer_shape(layer, (3, height, width))
    module = (torch.nn.MaxPool2d if kind == "maxpool2d" else torch.nn.AvgPool2d)(
        kernel, stride, pad, ceil_mode=ceil_mode)
    assert ours == torch_shape(module, (3, height, width))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(1, 5), st.integers(1, 4), st.integers(1, 2), st.integers(0, 2))
def test_maxpool1d_with_dilation_agrees_with_torch(length, kernel, stride, dilation, pad):
    pad = min(pad, kernel // 2)
    ours = infer_shape(f"{{type: maxpool1d, kernel: {kernel}, stride: {stride}, padding: {pad}, "
                       f"dilation: {dilation}}}", (2, length))
    assert ours == torch_shape(torch.nn.MaxPool1d(kernel, stride, pad, dilation), (2, length))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 20), st.integers(2, 20), st.integers(1, 4), st.integers(1, 3))
def test_lppool_agrees_with_torch(height, width, kernel, stride):
    ours = infer_shape(f"{{type: lppool2d, kernel: {kernel}, stride: {stride}}}", (2, height, width))
    assert ours == torch_shape(torch.nn.LPPool2d(2, kernel, stride), (2, height, width))


@pytest.mark.parametrize("size", [1, 3, 7])
def test_adaptive_and_global_pools_agree_with_torch(size):
    assert infer_shape(f"{{type: adaptive_avgpool2d, output: {size}}}", (5, 13, 9)) == \
        torch_shape(torch.nn.AdaptiveAvgPool2d(size), (5, 13, 9))
    assert infer_shape("global_avgpool", (5, 13, 9)) == (5,)


@pytest.mark.parametrize("layer,module,shape", [
    ("{type: lstm, hidden: 16, layers: 2, bidirectional: true, return_sequences: true}",
     lambda: _Seq(torch.nn.LSTM(8, 16, 2, batch_first=True, bidirectional=True)), (11, 8)),
    ("{type: gru, hidden: 12}", lambda: _Last(torch.nn.GRU(8, 12, batch_first=True)), (11, 8)),
    ("{type: rnn, hidden: 5, return_sequences: true}", lambda: _Seq(torch.nn.RNN(8, 5, batch_first=True)), (4, 8)),
])
def test_recurrent_shapes_and_param_counts_agree_with_torch(layer, module, shape):
    ours = infer_shape(layer, shape)
    built = module()
    assert ours == torch_shape(built, shape)
    spec_text = f"name: t\ninput: {{shape: {list(shape)}}}\nlayers:\n  - {layer}\n"
    from compiler.build import build
    from compiler.infer import infer
    from netspec.errors import Collector
    errors = Collector()
    graph, broken = build(load_text(spec_text, "t.yaml"), errors)
    infer(graph, errors, broken)
    node = graph.layers()[0]
    theirs = {name: tuple(p.shape) for name, p in built.rnn.named_parameters()}
    assert {p.name: p.shape for p in node.params} == theirs


class _Seq(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


class _Last(_Seq):
    def forward(self, x):
        return self.rnn(x)[0][:, -1]
