"""conv_transpose on the NumPy backend where the conformance cases don't reach: batch slices on several threads
(each slice's columns side by side in the shared wide arrays, one partial weight gradient per slice) give the
whole-batch results."""
import numpy as np
import pytest

from netspec import load_graph

SPEC = """\
name: deconv_threads
input: {shape: [6, 3, 4]}
layers:
  - {type: conv2d, filters: 4, kernel: 1}
  - {type: conv_transpose2d, filters: 6, kernel: [4, 3], stride: [2, 1], padding: [1, 0], output_padding: [1, 0],
     groups: 2, activation: relu}
  - {type: conv_transpose2d, filters: 2, kernel: 2, dilation: 2, bias: false}
"""


def _step(graph, threads, split):
    from backends.numpy import make_ops
    from backends.runtime.executor import Executor
    from backends.runtime.init import init_state
    ops = make_ops("float64", np.random.default_rng(0))
    ops.threads, ops.batch_parallel = threads, split
    if split:
        ops.MIN_SPLIT_ELEMENTS = 1                  # the layers are far too small to be split otherwise
    executor = Executor(graph, ops, {k: ops.from_numpy(v) for k, v in init_state(graph, 0).items()},
                        grad_inputs=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 6, 3, 4))
    out = executor.forward({graph.inputs[0]: x}, train=True)[graph.outputs[0]]
    grads = executor.backward({graph.outputs[0]: rng.standard_normal(out.shape)})
    return out, grads, executor.input_gradients


@pytest.mark.parametrize("threads", [2, 3])
def test_batch_slices_give_the_whole_batch_results(tmp_path, monkeypatch, threads):
    path = tmp_path / "deconv.yaml"
    path.write_text(SPEC)
    graph = load_graph(str(path))
    out, grads, input_grads = _step(graph, 1, False)
    slices = []
    from backends.numpy.split import BatchSplit

    class Recording(BatchSplit):
        def run(self, fn, n):
            def record(lo, hi):
                slices.append((lo, hi))
                fn(lo, hi)
            super().run(record, n)

    splitter = Recording(threads)
    monkeypatch.setattr("backends.numpy.ops.batch_split", lambda count: splitter)
    s_out, s_grads, s_input_grads = _step(graph, threads, True)
    assert any(lo > 0 for lo, _ in slices), "no layer ran in more than one slice"
    np.testing.assert_allclose(s_out, out, rtol=0, atol=1e-12)
    assert grads.keys() == s_grads.keys() and len(grads) == 5
    for key in grads:
        np.testing.assert_allclose(s_grads[key], grads[key], rtol=0, atol=1e-11, err_msg=key)
    for key in input_grads:
        np.testing.assert_allclose(s_input_grads[key], input_grads[key], rtol=0, atol=1e-11, err_msg=key)
