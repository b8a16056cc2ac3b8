"""Batch slices on several cores: the calling thread and persistent workers each run one slice of a batch.

The per-sample work of convolutions and pools (Numba window loops compiled `nogil`, and per-sample BLAS
products, BLAS itself on one thread) is split over the batch, the GIL released inside every kernel, so the
threads run at once. Every sample is computed by the same code whatever the
number of slices, and sums over the batch are taken afterwards in one fixed order: a model gives the same
bits on one core and on many.
"""
from __future__ import annotations

import itertools
import os
import queue
import threading
import time


class BatchSplit:
    """`run(fn, n)` calls fn(lo, hi) on `threads` contiguous slices of range(n) at once and returns after all.

    fn must release the GIL for most of its time (Numba nogil kernels, NumPy's BLAS and array loops).

    On a shared machine another core can stall (hypervisor steal, other jobs), and every split then waits
    for its slowest slice. When the caller waits longer for the workers than its own slice took (one
    thread would have been faster) LOSSES_TO_BACK_OFF times in a row, the next BACK_OFF_CALLS run whole
    on the calling thread before splitting is tried again. The results are the same either way.
    """

    LOSSES_TO_BACK_OFF = 3
    BACK_OFF_CALLS = 500

    def __init__(self, threads: int):
        self.threads = max(1, int(threads))
        self._losses = self._whole_calls = 0
        self._tasks = [queue.SimpleQueue() for _ in range(self.threads - 1)]
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._busy = threading.Lock()
        for tasks in self._tasks:
            threading.Thread(target=self._serve, args=(tasks,), daemon=True, name="netspec-batch").start()

    def reset(self) -> None:
        """Forget the losses and any back-off (a new thread plan starts splitting afresh)."""
        self._losses = self._whole_calls = 0

    def _serve(self, tasks) -> None:
        while True:
            work = tasks.get()
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which re-raises it
                self._done.put(exc)
            else:
                self._done.put(None)

    def run(self, fn, n: int) -> None:
        parts = min(self.threads, n)
        if self._whole_calls:                                        # backing off: see the class docstring
            self._whole_calls -= 1
            parts = 1
        if parts <= 1 or not self._busy.acquire(blocking=False):    # one slice, or already splitting elsewhere
            fn(0, n)
            return
        try:
            self._split(fn, n, parts)
        finally:
            self._busy.release()

    def _split(self, fn, n: int, parts: int) -> None:
        # One slice per thread, taken by whichever thread is free: a worker whose core is busy elsewhere
        # leaves its slice to the caller. Finer slices balance better in theory but cost more GIL hand-offs
        # than they save (LeNet-5 at 2 threads: 7.2 ms a step with 2 slices, 7.8 with 4, 10.5 with 8).
        bounds = [n * i // parts for i in range(parts + 1)]
        slices = iter(list(itertools.pairwise(bounds)))      # shared: next() is atomic under the GIL

        def drain():
            for lo, hi in slices:
                fn(lo, hi)

        for tasks in self._tasks[:parts - 1]:
            tasks.put(drain)
        start = time.perf_counter()
        try:
            drain()
        finally:                            # always wait: the workers write into the caller's arrays
            own = time.perf_counter() - start
            errors = [outcome for outcome in (self._done.get() for _ in range(parts - 1)) if outcome is not None]
            waited = time.perf_counter() - start - own
        self._losses = self._losses + 1 if waited > own else 0
        if self._losses >= self.LOSSES_TO_BACK_OFF:
            self._losses, self._whole_calls = 0, self.BACK_OFF_CALLS
        if errors:
            raise errors[0]


_SPLITS: dict[int, BatchSplit] = {}
_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):     # a forked child has none of the parent's worker threads: start anew
    os.register_at_fork(after_in_child=_SPLITS.clear)


def batch_split(threads: int) -> BatchSplit:
    """The process's shared BatchSplit for `threads` threads (workers are started once and kept)."""
    with _LOCK:
        if threads not in _SPLITS:
            _SPLITS[threads] = BatchSplit(threads)
        return _SPLITS[threads]
