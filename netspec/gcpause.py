"""`paused()`: the cycle collector off while a spec is expanded and checked.

A big spec makes hundreds of thousands of small objects and no garbage cycles; each full collection
walks them all (40% of `check`'s time on a 100k-layer spec). Nested pauses resume only at the outermost.
On resuming, the objects made meanwhile go straight to the oldest generation (`freeze` + `unfreeze` moves
them as a list, without a walk) instead of the first young collection walking every one of them.
"""
from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def paused():
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if not gc.get_freeze_count():   # leave a caller's own frozen objects frozen
                gc.freeze()
                gc.unfreeze()
            gc.enable()
