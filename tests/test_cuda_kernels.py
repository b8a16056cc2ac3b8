"""Numba-CUDA kernels against the NumPy backend: every layer type forward and backward to 1e-4 (float32).

Runs under the CUDA simulator (re-launched in its own process, see tests/cuda_sim.py) or on a GPU.
Shapes are tiny: the simulator runs every CUDA thread as a Python thread.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_sim import active, relaunch

if not active():
    test_under_cuda_simulator = relaunch(__file__)
else:
    import numpy as np
    import pytest

    from backends.numba_cuda.ops import CudaOps
    from backends.numpy.ops import NumpyOps
    from netspec import load_graph

    TOL = 1e-4

    def _node(tmp_path, input_spec, layer):
        """The typed IR node of one layer after `input_spec` (attrs with defaults, param shapes)."""
        import json
        path = tmp_path / "one.yaml"
        path.write_text(f"name: one\ninput: {json.dumps(input_spec)}\nlayers:\n  - {json.dumps(layer)}\n")
        graph = load_graph(str(path))
        return graph, graph.layers()[-1]

    def _compare(got, want, what):
        got = np.asarray(got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
        scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        err = float(np.abs(got - want).max()) if want.size else 0.0
        assert err <= TOL * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"

    def _ctx(node):
        """A fresh ctx as the executor makes it: the layer type, and every input wanting its gradient."""
        return {"op": node.op, "input_grads": (True,) * len(node.inputs)}

    def check_layer(tmp_path, input_spec, layer, batch=2, inputs=None, seed=0, train=True, extra_inputs=0,
                    fused=False):
        """Run one layer on both backends with the same parameters, inputs and output gradient (fused: the
        layer's activation goes to the CUDA kernels through ctx['activation'] and ctx['activation_attrs'], as
        the executor does; the reference applies it apart where it does not fuse it)."""
        _, node = _node(tmp_path, input_spec, layer)
        rng = np.random.default_rng(seed)
        in_shapes = [tuple(int(d) for d in s) for s in node.in_shapes]
        if inputs is None:
            inputs = [rng.standard_normal((batch, *s)).astype(np.float32) for s in in_shapes]
        params = {}
        for t in (*node.params, *node.buffers):
            shape = tuple(int(d) for d in t.shape)
            if t.name == "num_batches_tracked":
                params[t.name] = np.array(0, dtype=np.int64)
            elif t.name == "running_var":
                params[t.name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            else:
                params[t.name] = (rng.standard_normal(shape) * 0.5).astype(np.float32)
        ref, dev = NumpyOps("float32", np.random.default_rng(1)), CudaOps("float32", np.random.default_rng(1))
        ref_params = {k: ref.from_numpy(v) for k, v in params.items()}
        dev_params = {k: dev.from_numpy(v) for k, v in params.items()}
        ref_ctx, dev_ctx = _ctx(node), _ctx(node)
        ref_act = None             # the reference's activation context where it applies the activation apart
        if fused:
            assert dev.fuses(node.op, node.activation)
            dev_ctx.update(activation=node.activation, activation_attrs=node.activation_attrs)
            if ref.fuses(node.op, node.activation):
                ref_ctx.update(activation=node.activation, activation_attrs=node.activation_attrs)
            else:
                ref_act = {"op": node.activation, "input_grads": (True,)}
        want = ref.forward(node.op, ref_ctx, [ref.from_numpy(x) for x in inputs], ref_params, node.attrs, train)
        if ref_act is not None:
            want = ref.forward(node.activation, ref_act, [want], {}, node.activation_attrs, train)
        got = dev.forward(node.op, dev_ctx, [dev.from_numpy(x) for x in inputs], dev_params, node.attrs, train)
        _compare(dev.to_numpy(got), want, f"{node.op} forward")
        for key in params:            # buffers updated in place (batchnorm running statistics and counter)
            _compare(dev.to_numpy(dev_params[key]).ravel(), np.ravel(ref_params[key]), f"{node.op} {key} after forward")
        if not train:
            return
        grad = rng.standard_normal(want.shape).astype(np.float32)
        ref_grad = grad if ref_act is None else ref.backward(node.activation, ref_act, grad)[0][0]
        ref_gin, ref_gp = ref.backward(node.op, ref_ctx, ref_grad)
        dev_gin, dev_gp = dev.backward(node.op, dev_ctx, dev.from_numpy(grad))
        for i, (g, r) in enumerate(zip(dev_gin, ref_gin)):
            if r is None:
                assert g is None
                continue
            _compare(dev.to_numpy(g), r, f"{node.op} input grad {i}")
        assert set(dev_gp) == set(ref_gp), f"{node.op}: param grads {set(dev_gp)} vs {set(ref_gp)}"
        for key in ref_gp:
            got_grad = dev.to_numpy(dev_gp[key])
            assert got_grad.dtype == np.float32, f"{node.op} grad {key} is {got_grad.dtype}"
            _compare(got_grad, ref_gp[key], f"{node.op} grad {key}")

    IMG = {"shape": [3, 5, 5]}

    @pytest.mark.parametrize("layer", [
        {"type": "linear", "units": 4},
        {"type": "linear", "units": 3, "bias": False},
        {"type": "rbm", "hidden": 4},
        {"type": "rbm", "hidden": 3, "hidden_units": "gaussian"},
        {"type": "rbm", "hidden": 3, "hidden_units": "relu"},
    ])
    def test_dense(tmp_path, layer):
        check_layer(tmp_path, {"shape": [6]}, layer, batch=3)

    def test_linear_over_sequence(tmp_path):
        check_layer(tmp_path, {"shape": [3, 5]}, {"type": "linear", "units": 2})

    @pytest.mark.parametrize("layer", [
        {"type": "conv2d", "filters": 2, "kernel": 3},
        {"type": "conv2d", "filters": 4, "kernel": 2, "stride": 2, "padding": 1, "groups": 2, "bias": False},
        {"type": "conv2d", "filters": 2, "kernel": 3, "padding": "same", "dilation": 2},
        {"type": "conv1d", "filters": 2, "kernel": 3, "stride": 2, "padding": 1},
    ])
    def test_conv(tmp_path, layer):
        spec = {"shape": [4, 7]} if layer["type"] == "conv1d" else ({"shape": [4, 5, 5]} if layer.get("groups")
                                                                    else IMG)
        check_layer(tmp_path, spec, layer)

    @pytest.mark.parametrize("layer,spec", [
        ({"type": "linear", "units": 4, "activation": "relu"}, {"shape": [6]}),
        ({"type": "linear", "units": 3, "bias": False, "activation": "relu"}, {"shape": [6]}),
        ({"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1, "activation": "relu"}, IMG),
        ({"type": "linear", "units": 4, "activation": {"type": "leaky_relu", "slope": 0.2}}, {"shape": [6]}),
        ({"type": "conv1d", "filters": 2, "kernel": 3, "bias": False, "activation": "leaky_relu"}, {"shape": [3, 7]}),
    ])
    def test_fused_activation(tmp_path, layer, spec):
        check_layer(tmp_path, spec, layer, batch=3, fused=True)

    @pytest.mark.parametrize("layer", [
        {"type": "maxpool2d", "kernel": 2},
        {"type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {"type": "maxpool1d", "kernel": 2},
        {"type": "avgpool2d", "kernel": 2, "stride": 2, "padding": 1, "count_include_pad": False},
        {"type": "avgpool2d", "kernel": 3, "stride": 2, "ceil_mode": True},
        {"type": "avgpool1d", "kernel": 3, "stride": 1, "padding": 1},
        {"type": "lppool2d", "kernel": 2},
        {"type": "global_avgpool"},
        {"type": "global_maxpool"},
        {"type": "adaptive_avgpool2d", "output": [2, 3]},
    ])
    def test_pool(tmp_path, layer):
        spec = {"shape": [2, 6]} if layer["type"].endswith("1d") else {"shape": [2, 5, 5]}
        inputs = None
        if layer["type"] == "lppool2d":          # positive windows keep x**p and its root well defined
            inputs = [np.random.default_rng(3).uniform(0.1, 1.0, (2, 2, 5, 5)).astype(np.float32)]
        check_layer(tmp_path, spec, layer, inputs=inputs)

    @pytest.mark.parametrize("layer", ["relu", {"type": "leaky_relu", "slope": 0.2}, "sigmoid", "tanh", "step",
                                       "sign", "identity", "softmax", {"type": "softmax", "axis": 0}])
    def test_activation(tmp_path, layer):
        check_layer(tmp_path, {"shape": [3, 4]}, layer if isinstance(layer, dict) else {"type": layer})

    @pytest.mark.parametrize("layer", [{"type": "flatten"}, {"type": "reshape", "shape": [-1, 5]}])
    def test_shape(tmp_path, layer):
        check_layer(tmp_path, IMG, layer)

    @pytest.mark.parametrize("kind", ["add", "mul", "concat"])
    def test_merge(tmp_path, kind):
        path = tmp_path / "merge.yaml"
        path.write_text("name: m\ninput: {shape: [2, 3, 3]}\nlayers:\n  - {type: relu, name: a}\n"
                        f"  - {{type: tanh, name: b, from: input}}\n  - {{type: {kind}, from: [a, b, input]}}\n")
        graph = load_graph(str(path))
        node = graph.layers()[-1]
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal((2, 2, 3, 3)).astype(np.float32) for _ in node.inputs]
        ref, dev = NumpyOps(), CudaOps()
        rc, dc = _ctx(node), _ctx(node)
        want = ref.forward(kind, rc, inputs, {}, node.attrs, True)
        got = dev.forward(kind, dc, [dev.from_numpy(x) for x in inputs], {}, node.attrs, True)
        _compare(dev.to_numpy(got), want, kind)
        grad = rng.standard_normal(want.shape).astype(np.float32)
        for g, r in zip(dev.backward(kind, dc, dev.from_numpy(grad))[0], ref.backward(kind, rc, grad)[0]):
            _compare(dev.to_numpy(g), r, f"{kind} grad")

    @pytest.mark.parametrize("layer,spec", [
        ({"type": "batchnorm"}, {"shape": [3, 2, 2]}),
        ({"type": "batchnorm", "affine": False, "momentum": 0.3}, {"shape": [4]}),
        ({"type": "lrn", "size": 3, "alpha": 0.1, "beta": 0.75, "k": 2.0}, {"shape": [5, 2, 2]}),
    ])
    def test_norm(tmp_path, layer, spec):
        check_layer(tmp_path, spec, layer, batch=3)

    def test_batchnorm_eval(tmp_path):
        check_layer(tmp_path, {"shape": [3, 2, 2]}, {"type": "batchnorm"}, train=False)

    def test_embedding(tmp_path):
        ids = np.array([[0, 3, 3, 1], [4, 0, 2, 3]], dtype=np.int64)
        check_layer(tmp_path, {"shape": [4], "dtype": "int64"}, {"type": "embedding", "vocab": 5, "dim": 3,
                                                                  "padding_idx": 0}, inputs=[ids])

    def test_embedding_bad_id_is_a_clear_error(tmp_path):
        from netspec.errors import UserError
        _, node = _node(tmp_path, {"shape": [2], "dtype": "int64"}, {"type": "embedding", "vocab": 3, "dim": 2})
        dev = CudaOps()
        out = dev.forward("embedding", _ctx(node), [dev.from_numpy(np.array([[0, 7]]))],
                          {"weight": dev.from_numpy(np.zeros((3, 2), np.float32))}, node.attrs, False)
        with pytest.raises(UserError, match="vocabulary of 3"):
            dev.to_numpy(out)

    @pytest.mark.parametrize("layer", [
        {"type": "rnn", "hidden": 3},
        {"type": "rnn", "hidden": 2, "nonlinearity": "relu", "return_sequences": True},
        {"type": "lstm", "hidden": 3},
        {"type": "lstm", "hidden": 2, "bidirectional": True, "return_sequences": True, "layers": 2},
        {"type": "gru", "hidden": 3},
        {"type": "gru", "hidden": 2, "bidirectional": True, "bias": False},
    ])
    def test_recurrent(tmp_path, layer):
        check_layer(tmp_path, {"shape": [3, 2]}, layer)

    def test_dropout_statistics_and_backward():
        dev = CudaOps(rng=np.random.default_rng(0))
        x = np.ones((8, 50), np.float32)
        ctx = {"op": "dropout", "input_grads": (True,)}
        y = dev.to_numpy(dev.forward("dropout", ctx, [dev.from_numpy(x)], {}, {"p": 0.25}, True))
        kept = y != 0
        assert 0.6 < kept.mean() < 0.9
        np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
        (g,), _ = dev.backward("dropout", ctx, dev.from_numpy(np.full_like(x, 2.0)))
        np.testing.assert_allclose(dev.to_numpy(g), 2 * y, rtol=1e-6)
        eval_ctx = {"op": "dropout", "input_grads": (True,)}
        assert dev.to_numpy(dev.forward("dropout", eval_ctx, [dev.from_numpy(x)], {}, {"p": 0.25}, False)).min() == 1.0

    def test_matmul_transposes_batches_and_reductions():
        from backends.numba_cuda.device import to_device
        from backends.numba_cuda.kernels.matmul import gemm
        rng = np.random.default_rng(0)
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((9, 7) if ta else (7, 9)).astype(np.float32)
                b = rng.standard_normal((5, 9) if tb else (9, 5)).astype(np.float32)
                c = rng.standard_normal((7, 5)).astype(np.float32)
                got = gemm(to_device(a), to_device(b), to_device(c), ta, tb, 0.5, 2.0).copy_to_host()
                _compare(got, 0.5 * ((a.T if ta else a) @ (b.T if tb else b)) + 2 * c, f"gemm {ta} {tb}")
        a = rng.standard_normal((3, 6, 5)).astype(np.float32)
        b = rng.standard_normal((3, 4, 5)).astype(np.float32)
        summed = gemm(to_device(a), to_device(b), to_device(np.zeros((1, 6, 4), np.float32)), trans_b=True)
        _compare(summed.copy_to_host()[0], np.einsum("zmk,znk->mn", a, b), "gemm batch sum")

    @pytest.mark.parametrize("kind,activation", [("cross_entropy", None), ("cross_entropy", "softmax"),
                                                 ("mse", None), ("bce", None), ("bce", "sigmoid")])
    def test_losses(kind, activation):
        rng = np.random.default_rng(0)
        out = rng.standard_normal((4, 3)).astype(np.float32)
        target = rng.integers(0, 3, 4) if kind == "cross_entropy" else rng.uniform(0, 1, (4, 3)).astype(np.float32)
        ref, dev = NumpyOps(), CudaOps()
        if activation == "sigmoid":
            out = 1 / (1 + np.exp(-out))
        elif activation == "softmax":
            out = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
        o = out.astype(np.float32)
        rc, dc = {}, {}
        want = ref.loss_forward(kind, rc, o, target, activation)
        got = dev.loss_forward(kind, dc, dev.from_numpy(o), dev.from_numpy(target), activation)
        assert abs(got - want) <= TOL * max(1, abs(want))
        _compare(dev.to_numpy(dev.loss_backward(dc)), ref.loss_backward(rc), f"{kind} grad")

    @pytest.mark.parametrize("kind,extra", [("sgd", {"momentum": 0.9, "nesterov": True}), ("sgd", {}),
                                            ("adagrad", {}), ("rmsprop", {"momentum": 0.5}), ("rmsprop", {}),
                                            ("adam", {}), ("adamw", {})])
    def test_optimizers(kind, extra):
        from backends.runtime.optim import DEFAULT_EPS
        rng = np.random.default_rng(0)
        hp = {"lr": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.01, "betas": (0.9, 0.999),
              "eps": DEFAULT_EPS[kind] or 1e-8, "alpha": 0.99, **extra}
        param = rng.standard_normal(10).astype(np.float32)
        ref, dev = NumpyOps(), CudaOps()
        rp, dp = param.copy(), dev.from_numpy(param)
        rs, ds = {}, {}
        for step in (1, 2, 3):
            grad = rng.standard_normal(10).astype(np.float32)
            ref.optimizer_update(kind, rp, grad, rs, hp, step)
            dev.optimizer_update(kind, dp, dev.from_numpy(grad), ds, hp, step)
        _compare(dev.to_numpy(dp), rp, f"{kind} params")
        assert set(ds) == set(rs)
        for name, value in rs.items():
            _compare(dev.to_numpy(ds[name]), value, f"{kind} state {name}")

    def test_sum_squares_and_scale():
        dev = CudaOps()
        x = np.arange(-5, 6, dtype=np.float32)
        a = dev.from_numpy(x)
        assert abs(dev.sum_squares(a) - float(x @ x)) < 1e-3
        dev.scale_(a, 0.5)
        _compare(dev.to_numpy(a), x * 0.5, "scale_")
