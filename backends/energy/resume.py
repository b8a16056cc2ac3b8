"""Pretraining progress on disk, so that `--resume` continues a run killed during pretraining.

After every epoch of every RBM (and of DBM joint training) the whole state of pretraining is written
atomically to out_dir/pretrain_state.npz: finished layers' parameters and the RNG state each left behind
(the next layer's input is re-propagated from them), the current layer's parameters, momentum buffers,
persistent chains, sparsity activity, epoch and RNG state, and the monitor rows so far. A resumed run
restores it and continues from the next epoch, so it ends with the same weights as an uninterrupted one.

Standard library, NumPy and the checkpoint module only: generated PyTorch model files inline it, and keep
torch's RNG states (lists of bytes) where the NumPy backend keeps its generators' states.
"""
from __future__ import annotations

import os

import numpy as np

from backends.checkpoint import load, save

STATE_FILE = "pretrain_state.npz"


class PretrainProgress:
    """Saves and restores pretraining progress for one run directory (path None: keeps nothing)."""

    def __init__(self, out_dir: str | None, identity: dict, resume: bool, log=None, writer: bool = True):
        """identity: what a saved state must match to be continued (spec, source hash, method, backend);
        writer False: read only (the other ranks of a distributed run)."""
        self.path = os.path.join(out_dir, STATE_FILE) if out_dir else None
        self.identity, self.writer = identity, writer
        self.finished: list = []       # per finished layer: (params dict, rng state after its training)
        self.current: dict | None = None      # {'layer', 'epoch', 'rng', 'arrays'} of an unfinished stage
        self.rows: list = []
        if resume and self.path and os.path.exists(self.path):
            self._load(log or (lambda message: None))

    def _load(self, log) -> None:
        arrays, _, meta = load(self.path)
        if {k: meta.get(k) for k in self.identity} != self.identity:
            log(f"note: {self.path} belongs to another spec or method; pretraining starts from scratch")
            return
        for index, rng_state in enumerate(meta["finished_rng"]):
            prefix = f"finished.{index}."
            self.finished.append(({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}, rng_state))
        if meta.get("current") is not None:
            current = dict(meta["current"])
            current["arrays"] = {k[len("current."):]: v for k, v in arrays.items() if k.startswith("current.")}
            self.current = current
        self.rows = list(meta.get("rows", []))
        where = f"layer {len(self.finished) + 1}" if self.current is None else \
            f"{self.current['layer']} after epoch {self.current['epoch']}"
        log(f"resuming pretraining from {self.path} ({len(self.finished)} layer(s) done; continuing at {where})")

    def resumed(self, layer) -> dict | None:
        """The saved unfinished state of `layer` (an index, or 'dbm'), or None."""
        return self.current if self.current is not None and self.current["layer"] == layer else None

    def finish_layer(self, params: dict, rng_state) -> None:
        self.finished.append(({k: np.array(v) for k, v in params.items()}, rng_state))
        self.current = None

    def save(self, layer, epoch: int, rng_state, arrays: dict) -> None:
        """Record that `layer` finished `epoch` epochs with these arrays (and RNG state); written atomically."""
        self.current = {"layer": layer, "epoch": epoch, "rng": rng_state, "arrays": arrays}
        self.write()

    def write(self) -> None:
        if self.path is None or not self.writer:
            return
        state = {}
        for index, (params, _) in enumerate(self.finished):
            state.update({f"finished.{index}.{k}": v for k, v in params.items()})
        current = None
        if self.current is not None:
            current = {k: v for k, v in self.current.items() if k != "arrays"}
            state.update({f"current.{k}": np.asarray(v) for k, v in self.current["arrays"].items()})
        meta = {**self.identity, "finished_rng": [s for _, s in self.finished], "current": current,
                "rows": self.rows}
        save(self.path, state, _json_safe(meta))


def _json_safe(value):
    """RNG states hold Python ints beyond 2^53: JSON keeps them exactly (as integers)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
