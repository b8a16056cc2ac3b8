"""The one checkpoint format of every backend: an .npz keyed by PyTorch state_dict names.

Standard library and NumPy only, so the PyTorch code generator can inline this module into model files.

Extra entries under `__meta__/` hold JSON metadata (spec name and hash, epoch, optimizer state
keys prefixed with `__opt__/`). Files are written atomically: a killed run never leaves half a file.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

try:  # inside netspec a CheckpointError is a UserError (exit 1, one line); standalone it is a plain Exception
    from netspec.errors import UserError as _CheckpointErrorBase
except ImportError:  # pragma: no cover - inlined into generated model files
    _CheckpointErrorBase = Exception

META_KEY = "__meta__"


class CheckpointError(_CheckpointErrorBase):
    """A checkpoint file is missing, unreadable or does not fit the model."""

    def __init__(self, message: str, hint: str | None = None):
        Exception.__init__(self, message + (f"; {hint}" if hint else ""))


def atomic_write(path: str, write) -> None:
    """Call write(handle) on a temp file beside `path`, fsync it, then rename it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(path: str, state: dict, meta: dict | None = None, extra: dict | None = None) -> None:
    """Write parameters (and optional extra arrays such as optimizer state) atomically."""
    arrays = {key: np.asarray(value) for key, value in state.items()}
    for key, value in (extra or {}).items():
        arrays[key] = np.asarray(value)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta or {}, sort_keys=True).encode(), dtype=np.uint8)
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def load(path: str) -> tuple[dict, dict, dict]:
    """(state, extra, meta): parameters keyed by PyTorch names, extra arrays, metadata."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found", "train first, or pass the path of checkpoint.npz") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a netspec checkpoint ({exc})") from None
    meta = json.loads(bytes(arrays.pop(META_KEY, np.zeros(0, np.uint8))).decode() or "{}")
    extra = {k: v for k, v in arrays.items() if k.startswith("__")}
    state = {k: v for k, v in arrays.items() if not k.startswith("__")}
    return state, extra, meta


def check_layout(graph, state: dict, path: str) -> None:
    """Raise a clear error unless `state` has exactly the graph's parameters and buffers."""
    layout = graph.state_layout()
    missing = [k for k in layout if k not in state]
    unexpected = [k for k in state if k not in layout]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)}, spec {layout[k][0]}" for k in layout
             if k in state and tuple(state[k].shape) != tuple(int(d) for d in layout[k][0])]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}")
        if wrong:
            parts.append(f"shape mismatch {'; '.join(wrong[:5])}")
        raise CheckpointError(f"{path}: checkpoint does not fit spec '{graph.name}': " + "; ".join(parts),
                        "use the checkpoint trained from this spec")
