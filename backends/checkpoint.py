"""The one checkpoint format of every backend: an .npz keyed by PyTorch state_dict names.

Standard library and NumPy only, so the PyTorch code generator can inline this module into model files.

Extra entries under `__meta__/` hold JSON metadata (spec name and hash, epoch, optimizer state
keys prefixed with `__opt__/`). Files are written atomically: a killed run never leaves half a file.
The metadata carries a SHA-256 of every array (name, dtype, shape, bytes) and of the rest of the
metadata, so that a changed bit is found even where the zip CRC still passes; files without it
(written before it existed) load as before. Nothing in a checkpoint is trusted before it is checked.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile

import numpy as np

from netspec.data import read_arrays

try:  # inside netspec a CheckpointError is a UserError (exit 1, one line); standalone it is a plain Exception
    from netspec.errors import UserError as _CheckpointErrorBase
except ImportError:  # pragma: no cover - inlined into generated model files
    _CheckpointErrorBase = Exception

META_KEY = "__meta__"
CHECKSUM_KEY = "sha256"
OPT_PREFIX = "__opt__/"
# the per-parameter state each optimizer keeps (PyTorch's names); a resumed run refuses any other
OPTIMIZER_SLOTS = {"sgd": ("momentum_buffer",), "adagrad": ("sum",),
                   "rmsprop": ("square_avg", "momentum_buffer", "grad_avg"),
                   "adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                   "adamw": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}
# metadata keys every reader may use, with the type each must have
META_TYPES = {"epoch": int, "partial": bool, "spec": str, "source_hash": str, "backend": str, "dtype": str,
              "rng": dict, "vocab": str, "phase": str, "method": str, CHECKSUM_KEY: str}


class CheckpointError(_CheckpointErrorBase):
    """A checkpoint file is missing, unreadable, damaged, or does not fit the model."""

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


def checksum(arrays: dict, meta: dict) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes (in name order), then the metadata's JSON."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(json.dumps([key, value.dtype.str, list(value.shape)]).encode())
        digest.update(value.tobytes())
    digest.update(json.dumps({k: v for k, v in meta.items() if k != CHECKSUM_KEY}, sort_keys=True).encode())
    return digest.hexdigest()


def save(path: str, state: dict, meta: dict | None = None, extra: dict | None = None) -> None:
    """Write parameters (and optional extra arrays such as optimizer state) atomically, with a checksum.

    A failed write (a full disk) raises CheckpointError and leaves an earlier file at `path` as it was."""
    arrays = {key: np.asarray(value) for key, value in state.items()}
    for key, value in (extra or {}).items():
        arrays[key] = np.asarray(value)
    meta = dict(meta or {})
    meta[CHECKSUM_KEY] = checksum(arrays, meta)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    existed = os.path.exists(path)
    try:
        atomic_write(path, lambda handle: np.savez(handle, **arrays))
    except OSError as exc:
        kept = "; the earlier checkpoint there is kept" if existed else ""
        hint = "free some disk space and run again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
        raise CheckpointError(f"{path}: cannot write the checkpoint: {exc.strerror or exc}{kept}", hint) from None


def load(path: str) -> tuple[dict, dict, dict]:
    """(state, extra, meta): parameters keyed by PyTorch names, extra arrays, metadata; all checked.

    Raises CheckpointError naming the file and the fault: unreadable, truncated or damaged, metadata
    that is not a JSON object of the right types, a checksum that does not match, non-numeric arrays,
    or a NaN/inf value in any parameter or optimizer state."""
    arrays = read_arrays(path, CheckpointError, "checkpoint")
    if isinstance(arrays, np.ndarray):
        raise CheckpointError(f"{path}: is an .npy array, not a checkpoint (an .npz archive)",
                              "pass the checkpoint.npz that netspec train wrote")
    meta = _read_meta(arrays.pop(META_KEY, None), path)
    if CHECKSUM_KEY in meta and checksum(arrays, meta) != meta[CHECKSUM_KEY]:
        raise CheckpointError(f"{path}: checksum mismatch: the arrays or metadata changed after the checkpoint "
                              "was written (a damaged file)", "use an intact copy, or train again")
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise CheckpointError(f"{path}: array '{key}' has dtype {value.dtype}; checkpoints hold numbers only")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            count = int((~np.isfinite(value)).sum())
            raise CheckpointError(f"{path}: array '{key}' holds {count} NaN/inf value(s)",
                                  "the run had diverged when it was saved; use an earlier checkpoint, or train "
                                  "again with a lower learning rate or grad_clip")
    extra = {k: v for k, v in arrays.items() if k.startswith("__")}
    state = {k: v for k, v in arrays.items() if not k.startswith("__")}
    return state, extra, meta


def _read_meta(raw, path: str) -> dict:
    """The metadata object, with the known keys' types checked."""
    if raw is None:
        return {}
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: metadata '{META_KEY}' must be UTF-8 JSON bytes, found {raw.dtype} "
                              f"of shape {raw.shape}")
    try:
        meta = json.loads(bytes(raw).decode("utf-8") or "{}")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: metadata '{META_KEY}' is not UTF-8 text (a damaged file)") from None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: metadata '{META_KEY}' is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata '{META_KEY}' must be a JSON object, found {type(meta).__name__}")
    for key, kind in META_TYPES.items():
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            want = "a non-negative integer" if kind is int else f"a JSON {_JSON_NAMES[kind]}"
            raise CheckpointError(f"{path}: metadata '{key}' must be {want}, found {json.dumps(value)[:40]}")
    return meta


_JSON_NAMES = {str: "string", bool: "boolean", dict: "object", list: "array"}


def restore_numpy_rng(generator, state, path: str) -> None:
    """Put a saved NumPy generator state back, refusing a damaged one (None: leave the generator as it is)."""
    if state is None:
        return
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
        raise CheckpointError(f"{path}: the saved random-number state (metadata 'rng') is damaged",
                              "use an intact checkpoint, or start a new run without --resume") from None


def check_optimizer_state(extra: dict, shapes: dict, kind: str, path: str, momentum: float = 0.0) -> int:
    """Check the '__opt__/' arrays a resumed run will use; return the saved step count.

    shapes: trainable parameter -> shape. Refused: no optimizer state at all (resuming would silently
    start a fresh optimizer), a step count that is not one non-negative integer, state of a parameter the
    model lacks or of a slot that `kind` does not keep, and a slot whose shape or dtype differs from its
    parameter's."""
    steps = extra.get(f"{OPT_PREFIX}steps")
    if steps is None:
        raise CheckpointError(f"{path}: has no optimizer state ('{OPT_PREFIX}steps'), so --resume would go on "
                              f"with a fresh {kind} optimizer", "start a new run without --resume")
    if steps.shape != () or steps.dtype.kind not in "iu" or int(steps) < 0:
        raise CheckpointError(f"{path}: '{OPT_PREFIX}steps' must be one non-negative integer, found "
                              f"{steps.dtype} of shape {steps.shape}")
    allowed = OPTIMIZER_SLOTS.get(kind, ())
    found = 0
    for full, value in extra.items():
        if not full.startswith(OPT_PREFIX) or full == f"{OPT_PREFIX}steps":
            continue
        key, _, slot = full[len(OPT_PREFIX):].rpartition("/")
        if key not in shapes:
            raise CheckpointError(f"{path}: optimizer state '{full}' belongs to no trainable parameter of this model",
                                  "use the checkpoint trained from this spec")
        if slot not in allowed:
            raise CheckpointError(f"{path}: optimizer state '{full}' is not kept by the spec's {kind} optimizer "
                                  f"(it keeps {', '.join(allowed) or 'none'})",
                                  "the spec's optimizer changed since this checkpoint; resume with the original "
                                  "spec, or start a new run without --resume")
        want = tuple(int(d) for d in shapes[key])
        if value.dtype.kind != "f" or tuple(value.shape) != want:
            raise CheckpointError(f"{path}: optimizer state '{full}' is {value.dtype} of shape "
                                  f"{tuple(value.shape)}; its parameter needs floats of shape {want}")
        found += 1
    if int(steps) > 0 and not found and (kind != "sgd" or momentum):
        raise CheckpointError(f"{path}: records {int(steps)} optimizer steps but no {kind} state for any parameter, "
                              "so --resume would go on with a fresh optimizer", "start a new run without --resume")
    return int(steps)


def check_layout(graph, state: dict, path: str) -> None:
    """Raise a clear error unless `state` has exactly the graph's parameters and buffers."""
    layout = graph.state_layout()
    missing = [k for k in layout if k not in state]
    unexpected = [k for k in state if k not in layout]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)}, spec {layout[k][0]}" for k in layout
             if k in state and tuple(state[k].shape) != tuple(int(d) for d in layout[k][0])]
    dtypes = [f"{k}: checkpoint holds {state[k].dtype}, a trainable parameter needs floats" for k in layout
              if k in state and layout[k][1] and state[k].dtype.kind != "f"]
    if missing or unexpected or wrong or dtypes:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}")
        if wrong:
            parts.append(f"shape mismatch {'; '.join(wrong[:5])}")
        if dtypes:
            parts.append(f"wrong dtype {'; '.join(dtypes[:5])}")
        raise CheckpointError(f"{path}: checkpoint does not fit spec '{graph.name}': " + "; ".join(parts),
                        "use the checkpoint trained from this spec")
