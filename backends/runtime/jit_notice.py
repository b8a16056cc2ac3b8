"""Say so once when Numba compiles kernels: the pause is a first run's, later runs load them from the disk cache."""
from __future__ import annotations

import contextlib

MESSAGE = "compiling kernels (first run only)"


@contextlib.contextmanager
def announce_compiles(log, cuda: bool = False):
    """Within the block, log MESSAGE at Numba's first real compilation (a kernel loaded from the cache is silent).

    Numba reports a CPU compilation as the event 'numba:compile'; numba-cuda reports its passes as
    'numba-cuda:run_pass' on its own event bus (cuda=True listens there too).
    """
    from numba.core import event

    said = []

    def note() -> None:
        if not said:
            said.append(True)
            log(MESSAGE)

    with contextlib.ExitStack() as stack:
        stack.enter_context(event.install_listener("numba:compile", _listener(event.Listener, note)))
        if cuda:
            try:
                from numba.cuda.core import event as cuda_event
            except ImportError:        # an older numba-cuda: no notice, kernels still compile
                cuda_event = None
            if cuda_event is not None:
                stack.enter_context(cuda_event.install_listener("numba-cuda:run_pass",
                                                                _listener(cuda_event.Listener, note)))
        yield


def _listener(base, note):
    """A Numba event listener (of that event module's Listener class) that calls note() when an event starts."""

    class Listener(base):
        def on_start(self, event) -> None:
            note()

        def on_end(self, event) -> None:
            pass

    return Listener()
