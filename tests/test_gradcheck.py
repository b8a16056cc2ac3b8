"""Every layer type's backward (and every loss's) against central differences in float64."""
import numpy as np
import pytest

from backends.numpy.ops import NumpyOps

REL_TOL = 1e-6


def _ops():
    return NumpyOps("float64", np.random.default_rng(0))


def _relative_error(numeric, analytic):
    scale = max(np.linalg.norm(numeric), np.linalg.norm(analytic), 1e-12)
    return np.linalg.norm(numeric - analytic) / scale


def check_layer(op, inputs, params, attrs, int_inputs=(), eps=1e-6, check_inputs=True, activation=None):
    """Compare d(sum(out * R))/d(every float input and param) with central differences.

    `activation` asks the kernel to apply a fused activation itself (ctx['activation'], as the executor does).
    """
    ops = _ops()
    probe = {}

    def context():                                   # what the executor hands a kernel
        return {"op": op, "input_grads": (True,) * len(inputs), **({"activation": activation} if activation else {})}

    def loss():
        ops.rng = np.random.default_rng(7)          # dropout draws the same mask every time
        out = ops.forward(op, context(), inputs, params, attrs, True)
        if "r" not in probe:
            probe["r"] = np.random.default_rng(1).normal(size=out.shape)
        return float(np.sum(out * probe["r"]))

    loss()
    ops.rng = np.random.default_rng(7)
    ctx = context()
    out = ops.forward(op, ctx, inputs, params, attrs, True)
    grad_inputs, grad_params = ops.backward(op, ctx, probe["r"].copy())
    assert out.dtype == np.float64
    targets = [(f"input {i}", x, grad_inputs[i]) for i, x in enumerate(inputs)
               if i not in int_inputs and check_inputs]
    targets += [(f"param {name}", value, grad_params.get(name)) for name, value in params.items()
                if name not in ("running_mean", "running_var", "num_batches_tracked")]
    for label, array, analytic in targets:
        assert analytic is not None, f"{op}: no gradient for {label}"
        numeric = np.zeros_like(array)
        flat, num = array.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            plus = loss()
            flat[i] = saved - eps
            minus = loss()
            flat[i] = saved
            num[i] = (plus - minus) / (2 * eps)
        error = _relative_error(numeric, np.asarray(analytic).reshape(numeric.shape))
        assert error < REL_TOL, f"{op} {attrs}: {label} relative error {error:.2e}"


def rand(*shape, seed=0):
    return np.random.default_rng(seed + sum(shape)).normal(size=shape)


def away_from_zero(*shape, seed=0):
    x = rand(*shape, seed=seed)
    return x + np.sign(x) * 0.1


CONV_CASES = [
    ("conv2d", (2, 3, 5, 6), {"kernel": (3, 3), "stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}),
    ("conv2d", (2, 4, 6, 5), {"kernel": (2, 3), "stride": (2, 1), "padding": (0, 2), "dilation": (1, 2), "groups": 2}),
    ("conv2d", (1, 2, 5, 5), {"kernel": (4, 2), "stride": (1, 1), "padding": "same", "dilation": (1, 1), "groups": 1}),
    ("conv2d", (1, 2, 5, 5), {"kernel": (3, 3), "stride": (2, 2), "padding": "valid", "dilation": (1, 1), "groups": 1}),
    ("conv1d", (2, 3, 9), {"kernel": (3,), "stride": (2,), "padding": (1,), "dilation": (2,), "groups": 1}),
    ("conv1d", (2, 2, 7), {"kernel": (4,), "stride": (1,), "padding": "same", "dilation": (1,), "groups": 2}),
]


@pytest.mark.parametrize("op,shape,attrs", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv(op, shape, attrs, bias):
    filters, groups = 4, attrs["groups"]
    weight = rand(filters, shape[1] // groups, *attrs["kernel"], seed=1)
    params = {"weight": weight, **({"bias": rand(filters, seed=2)} if bias else {})}
    check_layer(op, [rand(*shape)], params, {**attrs, "filters": filters, "bias": bias})


@pytest.mark.parametrize("op,shape,attrs", [CONV_CASES[0], CONV_CASES[1], CONV_CASES[4]])
def test_conv_fused_relu(op, shape, attrs):
    """The kernels' own relu (the executor's fused-activation hook) in forward and backward."""
    filters, groups = 4, attrs["groups"]
    assert NumpyOps.lowerings.get(op).fuses == ("relu",)
    params = {"weight": rand(filters, shape[1] // groups, *attrs["kernel"], seed=1), "bias": rand(filters, seed=2)}
    out = _ops().forward(op, {"activation": "relu"}, [rand(*shape)], params, {**attrs, "filters": filters}, True)
    assert out.min() == 0 and (out > 0).any()
    check_layer(op, [rand(*shape)], params, {**attrs, "filters": filters, "bias": True}, activation="relu")


POOL_CASES = [
    ("maxpool2d", (2, 2, 5, 6), {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "ceil_mode": False,
                                 "dilation": (1, 1)}),
    ("maxpool2d", (2, 2, 5, 7), {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "ceil_mode": False,
                                 "dilation": (1, 1)}),      # an odd last row and column outside every window
    ("maxpool2d", (1, 2, 7, 6), {"kernel": (3, 2), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True,
                                 "dilation": (1, 2)}),
    ("maxpool1d", (2, 3, 9), {"kernel": (3,), "stride": (2,), "padding": (1,), "ceil_mode": True, "dilation": (1,)}),
    ("avgpool2d", (2, 2, 5, 6), {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True,
                                 "count_include_pad": True}),
    ("avgpool2d", (1, 2, 5, 7), {"kernel": (2, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": False,
                                 "count_include_pad": False}),
    ("avgpool1d", (2, 2, 7), {"kernel": (3,), "stride": (2,), "padding": (1,), "ceil_mode": True,
                              "count_include_pad": False}),
    ("lppool2d", (2, 2, 5, 5), {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "ceil_mode": True,
                                "norm": 2.0}),
    ("lppool2d", (1, 2, 6, 6), {"kernel": (3, 3), "stride": (1, 2), "padding": (0, 0), "ceil_mode": False,
                                "norm": 3.0}),
    ("global_avgpool", (2, 3, 4, 5), {}),
    ("global_avgpool", (2, 3, 6), {}),
    ("global_maxpool", (2, 3, 4, 5), {}),
    ("adaptive_avgpool2d", (2, 2, 5, 7), {"output": (3, 2)}),
]


@pytest.mark.parametrize("op,shape,attrs", POOL_CASES)
def test_pool(op, shape, attrs):
    x = rand(*shape)
    if op == "lppool2d":
        x = np.abs(x) + 0.5
    check_layer(op, [x], {}, attrs)


ACTIVATION_CASES = [("relu", {}), ("leaky_relu", {"slope": 0.2}), ("sigmoid", {}), ("tanh", {}),
                    ("softmax", {"axis": -1}), ("softmax", {"axis": 0}), ("step", {}), ("sign", {}),
                    ("identity", {}), ("flatten", {}), ("reshape", {"shape": (4, -1)}), ("dropout", {"p": 0.3})]


@pytest.mark.parametrize("op,attrs", ACTIVATION_CASES)
def test_elementwise_and_shape(op, attrs):
    check_layer(op, [away_from_zero(3, 4, 3)], {}, attrs)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (3, 2, 4, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm(shape, affine):
    channels = shape[1]
    params = {"running_mean": np.zeros(channels), "running_var": np.ones(channels),
              "num_batches_tracked": np.zeros((), np.int64)}
    if affine:
        params.update(weight=rand(channels, seed=3) + 1.5, bias=rand(channels, seed=4))
    check_layer("batchnorm", [rand(*shape)], params, {"eps": 1e-5, "momentum": 0.1, "affine": affine})


@pytest.mark.parametrize("shape,size", [((2, 6, 3, 2), 3), ((2, 5, 4), 4), ((1, 7, 2, 2), 5)])
def test_lrn(shape, size):
    check_layer("lrn", [rand(*shape)], {}, {"size": size, "alpha": 0.5, "beta": 0.75, "k": 1.5})


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    params = {"weight": rand(3, shape[-1], seed=1), **({"bias": rand(3, seed=2)} if bias else {})}
    check_layer("linear", [rand(*shape)], params, {"units": 3, "bias": bias})


@pytest.mark.parametrize("bias", [True, False])
def test_linear_fused_relu(bias):
    params = {"weight": rand(6, 5, seed=1), **({"bias": rand(6, seed=2)} if bias else {})}
    check_layer("linear", [rand(4, 5)], params, {"units": 6, "bias": bias}, activation="relu")


@pytest.mark.parametrize("units", ["bernoulli", "gaussian", "relu"])
def test_rbm(units):
    params = {"weight": rand(4, 6, seed=1), "bias": rand(4, seed=2), "visible_bias": rand(6, seed=3)}
    check_layer("rbm", [away_from_zero(3, 6)], params, {"hidden": 4, "hidden_units": units})


def test_tied():
    check_layer("tied", [rand(3, 4)], {"weight": rand(4, 6, seed=1), "bias": rand(6, seed=2)}, {"units": 6})


@pytest.mark.parametrize("padding_idx", [None, 1])
def test_embedding(padding_idx):
    ids = np.array([[0, 2, 1], [3, 2, 2]], dtype=np.int64)
    ops = _ops()
    weight = rand(4, 3)
    ctx = {}
    ops.forward("embedding", ctx, [ids], {"weight": weight}, {"padding_idx": padding_idx}, True)
    r = rand(2, 3, 3, seed=5)
    (_,), grads = ops.backward("embedding", ctx, r)
    expected = np.zeros_like(weight)
    for (i, j), token in np.ndenumerate(ids):
        expected[token] += r[i, j]
    if padding_idx is not None:
        expected[padding_idx] = 0
    np.testing.assert_allclose(grads["weight"], expected)
    check_layer("embedding", [ids], {"weight": weight}, {"padding_idx": None}, int_inputs=(0,))


@pytest.mark.parametrize("op", ["add", "mul"])
def test_merge(op):
    check_layer(op, [rand(2, 3, 2), rand(2, 3, 2, seed=1), rand(2, 3, 2, seed=2)], {}, {})


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    shapes = {0: [(2, 2, 3), (2, 4, 3)], 1: [(2, 3, 1), (2, 3, 2)], -1: [(2, 3, 2), (2, 3, 3)]}[axis]
    check_layer("concat", [rand(*s, seed=i) for i, s in enumerate(shapes)], {}, {"axis": axis})


def _recurrent_params(op, features, hidden, layers, bidirectional, bias):
    from compiler.layers.recurrent import recurrent_param_layout
    return {name: rand(*shape, seed=i) * 0.5
            for i, (name, shape) in enumerate(recurrent_param_layout(op, features, hidden, layers, bidirectional, bias))}


@pytest.mark.parametrize("op", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers,bidirectional,return_sequences,bias",
                         [(1, False, True, True), (1, False, False, False), (2, True, False, True),
                          (2, True, True, True)])
def test_recurrent(op, layers, bidirectional, return_sequences, bias):
    attrs = {"hidden": 3, "layers": layers, "bidirectional": bidirectional, "return_sequences": return_sequences,
             "bias": bias, "dropout": 0.25 if layers > 1 else 0.0, "nonlinearity": "tanh"}
    check_layer(op, [rand(2, 4, 3)], _recurrent_params(op, 3, 3, layers, bidirectional, bias), attrs)


def test_rnn_relu():
    attrs = {"hidden": 3, "layers": 1, "bidirectional": True, "return_sequences": True, "bias": True,
             "dropout": 0.0, "nonlinearity": "relu"}
    check_layer("rnn", [rand(2, 3, 2)], _recurrent_params("rnn", 2, 3, 1, True, True), attrs)


LOSS_CASES = [("cross_entropy", (4, 5), None), ("cross_entropy", (2, 3, 5), None), ("cross_entropy", (4, 5), "softmax"),
              ("mse", (3, 4), None), ("bce", (3, 4), None), ("bce", (3, 4), "sigmoid")]


@pytest.mark.parametrize("kind,shape,activation", LOSS_CASES)
def test_losses(kind, shape, activation):
    ops = _ops()
    rng = np.random.default_rng(0)
    output = rng.normal(size=shape)
    if activation == "softmax":
        output = np.exp(output) / np.exp(output).sum(-1, keepdims=True)
    if activation == "sigmoid":
        output = 1 / (1 + np.exp(-output))
    target = (rng.integers(0, shape[-1], size=shape[:-1]) if kind == "cross_entropy"
              else rng.uniform(size=shape))
    ctx = {}
    ops.loss_forward(kind, ctx, output, target, activation)
    analytic = ops.loss_backward(ctx)
    numeric = np.zeros_like(output)
    for i in np.ndindex(*shape):
        saved = output[i]
        output[i] = saved + 1e-6
        plus = ops.loss_forward(kind, {}, output, target, activation)
        output[i] = saved - 1e-6
        minus = ops.loss_forward(kind, {}, output, target, activation)
        output[i] = saved
        numeric[i] = (plus - minus) / 2e-6
    assert _relative_error(numeric, analytic) < REL_TOL


def test_every_registered_layer_type_has_kernels():
    from compiler.registry import all_types
    ops = _ops()
    missing = [name for name, layer in all_types().items() if layer.family != "input" and not ops.supports(name)]
    assert not missing, f"NumpyOps lacks kernels for {missing}"


@pytest.mark.parametrize("attrs", [{"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "ceil_mode": False,
                                    "dilation": (1, 1)},           # the unrolled 2x2 kernel
                                   {"kernel": (3, 2), "stride": (2, 1), "padding": (1, 0), "ceil_mode": True,
                                    "dilation": (1, 1)}])          # the general window loop
def test_maxpool_matches_torch_on_ties_and_nan(attrs):
    """Both max-pool kernels pick PyTorch's element: the first of equal maxima, the last NaN in a window."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).normal(size=(2, 3, 9, 8)).astype(np.float32)
    x[0, 0, :2, :4] = 1.5
    x[0, 1, 2, 2] = x[0, 1, 3, 3] = x[1, 2, 5, 1] = np.nan
    out = NumpyOps("float32").forward("maxpool2d", {}, [x], {}, attrs, False)
    ref = torch.nn.functional.max_pool2d(torch.from_numpy(x), attrs["kernel"], attrs["stride"], attrs["padding"],
                                         ceil_mode=attrs["ceil_mode"], return_indices=True)
    assert np.array_equal(out, ref[0].numpy(), equal_nan=True)
    ctx, ops = {}, NumpyOps("float32")
    out = ops.forward("maxpool2d", ctx, [x], {}, attrs, True)
    assert np.array_equal(ctx["argmax"], ref[1].numpy())
    grad = np.random.default_rng(4).normal(size=out.shape).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.max_pool2d(xt, attrs["kernel"], attrs["stride"], attrs["padding"],
                                   ceil_mode=attrs["ceil_mode"]).backward(torch.from_numpy(grad))
    assert np.array_equal(ops.backward("maxpool2d", ctx, grad)[0][0], xt.grad.numpy())
