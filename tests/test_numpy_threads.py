"""The NumPy backend's batch-parallel path: batch slices on several threads give the serial results."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from backends.numpy.split import BatchSplit, batch_split
from netspec import load_graph

CNN = """\
netspec: 1
name: threads_cnn
input: {shape: [4, 11, 11]}
layers:
  - {type: conv2d, filters: 6, kernel: 3, padding: 1, groups: 2, activation: relu}
  - {type: maxpool2d, kernel: 2}
  - {type: conv2d, filters: 8, kernel: [3, 2], stride: 2}
  - {type: avgpool2d, kernel: 2, stride: 1, padding: 1}
  - flatten
  - {type: linear, units: 40, activation: relu}
  - {type: linear, units: 5}
train: {loss: cross_entropy, optimizer: {type: sgd, lr: 0.1}}
"""

MLP = """\
netspec: 1
name: threads_mlp
input: {shape: [12]}
layers:
  - {type: linear, units: 7}
train: {loss: cross_entropy, optimizer: {type: sgd, lr: 0.1}}
"""


def _graph(tmp_path, text, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return load_graph(str(path))


def test_batch_split_covers_the_batch_on_several_threads():
    split = BatchSplit(3)
    seen, lock = [], threading.Lock()

    def record(lo, hi):
        time.sleep(0.05)                        # releases the GIL, so every thread gets a slice
        with lock:
            seen.append((lo, hi, threading.get_ident()))

    split.run(record, 10)
    assert sorted((lo, hi) for lo, hi, _ in seen) == [(0, 3), (3, 6), (6, 10)]
    assert len({ident for *_, ident in seen}) == 3
    seen.clear()
    split.run(record, 2)                        # fewer samples than threads: one slice each
    assert sorted((lo, hi) for lo, hi, _ in seen) == [(0, 1), (1, 2)]


def test_batch_split_hands_a_worker_error_to_the_caller():
    split = BatchSplit(2)

    def fail_late(lo, hi):
        if lo > 0:
            raise ValueError(f"slice {lo}:{hi}")

    with pytest.raises(ValueError, match="slice 2:4"):
        split.run(fail_late, 4)
    done = []
    split.run(lambda lo, hi: done.append(hi), 4)      # the workers still serve after an error
    assert sorted(done) == [2, 4]


class CountingSplit(BatchSplit):
    """A BatchSplit that counts the batches it split (and never backs off: the test net's layers are so small
    that a hand-off takes longer than a slice)."""

    LOSSES_TO_BACK_OFF = 1 << 30

    def __init__(self, threads):
        super().__init__(threads)
        self.splits = 0

    def _split(self, fn, n, parts):
        self.splits += 1
        super()._split(fn, n, parts)


def test_batch_split_backs_off_while_a_worker_lags():
    split = BatchSplit(2)
    split.BACK_OFF_CALLS = 2
    ran, worker_started = [], threading.Event()

    def lagging_worker(lo, hi):                 # the worker's slice takes far longer than the caller's
        ran.append((lo, hi))
        if threading.current_thread() is threading.main_thread():
            if hi - lo < 8:                     # a split: let the worker take its slice before returning
                assert worker_started.wait(10)
                worker_started.clear()
        else:
            worker_started.set()
            time.sleep(0.05)

    for _ in range(split.LOSSES_TO_BACK_OFF):
        split.run(lagging_worker, 8)
    assert sorted(ran) == sorted([(0, 4), (4, 8)] * split.LOSSES_TO_BACK_OFF)
    ran.clear()
    split.run(lagging_worker, 8)
    split.run(lagging_worker, 8)
    assert ran == [(0, 8), (0, 8)]              # backing off: whole batches on the calling thread
    ran.clear()
    split.run(lagging_worker, 8)                # then splitting is tried again
    assert sorted(ran) == [(0, 4), (4, 8)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_gets_its_own_workers():
    batch_split(2).run(lambda lo, hi: None, 4)          # the parent's workers are running
    pid = os.fork()
    if pid == 0:                                        # child: splitting must not wait on the parent's threads
        signal.alarm(20)                                # a hang ends the child with SIGALRM, failing the test
        done = []
        batch_split(2).run(lambda lo, hi: done.append(hi), 4)
        os._exit(0 if sorted(done) == [2, 4] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _train_step(graph, threads, batch_parallel, split_everything):
    from backends.numpy import make_ops
    from backends.runtime import Model, init_state
    ops = make_ops("float32", np.random.default_rng(0))
    ops.threads = threads
    model = Model(graph, ops, {k: v.astype(np.float32) if v.dtype.kind == "f" else v
                               for k, v in init_state(graph, 0).items()})
    ops.batch_parallel = batch_parallel             # what plan() chooses when threadpoolctl is present
    if split_everything:                            # this net is far too small to be split otherwise
        ops.LINEAR_SPLIT_WORK = ops.MIN_SPLIT_ELEMENTS = 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 4, 11, 11), dtype=np.float32)
    y = rng.integers(0, 5, 9)
    loss, _outs, _labels, grads = model.train_step(x, y)
    return loss, {k: np.array(v) for k, v in grads.items()}


@pytest.mark.parametrize("threads", [2, 3])
def test_batch_parallel_step_equals_the_serial_step(tmp_path, monkeypatch, threads):
    graph = _graph(tmp_path, CNN, "cnn")
    loss, grads = _train_step(graph, 1, False, False)
    splitter = CountingSplit(threads)
    monkeypatch.setattr("backends.numpy.ops.batch_split", lambda count: splitter)
    split_loss, split_grads = _train_step(graph, threads, True, True)
    assert splitter.splits == 12       # 2 convolutions, 2 pools, 2 linear layers; forward and backward
    assert split_loss == pytest.approx(loss, rel=1e-6)
    assert grads.keys() == split_grads.keys()
    # per-sample work summed in one order; OpenBLAS may block a slice's GEMM differently from the whole
    # batch's (0.3.31 does), so the last float32 bits may differ: far below any fault
    for key, value in grads.items():
        np.testing.assert_allclose(split_grads[key], value, rtol=1e-5, atol=1e-6 * np.abs(value).max(), err_msg=key)
    assert any(np.abs(v).max() > 0 for v in grads.values())


def test_small_layers_run_whole(tmp_path, monkeypatch):
    """Below MIN_SPLIT_ELEMENTS a hand-off would cost more than the second thread saves."""
    splitter = CountingSplit(2)
    monkeypatch.setattr("backends.numpy.ops.batch_split", lambda count: splitter)
    _train_step(_graph(tmp_path, CNN, "cnn"), 2, True, False)
    assert splitter.splits == 0


def test_plan_splits_the_batch_only_for_graphs_with_convolutions_or_pools(tmp_path):
    pytest.importorskip("threadpoolctl", reason="plan() needs threadpoolctl to put BLAS on one thread")
    from backends.numpy import make_ops, set_blas_threads
    ops = make_ops("float32")
    ops.threads = 2
    try:
        ops.plan(_graph(tmp_path, CNN, "cnn"))
        assert ops.batch_parallel
        ops.plan(_graph(tmp_path, MLP, "mlp"))
        assert not ops.batch_parallel
        ops.threads = 1
        ops.plan(_graph(tmp_path, CNN, "cnn"))
        assert not ops.batch_parallel
    finally:
        set_blas_threads(None)
