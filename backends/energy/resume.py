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

from backends.checkpoint import CheckpointError, load, save

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
        finished_rng, current, rows = meta.get("finished_rng"), meta.get("current"), meta.get("rows", [])
        if not isinstance(finished_rng, list) or not isinstance(rows, list) or \
                not all(isinstance(row, dict) for row in rows) or not (current is None or isinstance(current, dict)):
            self._damaged("metadata 'finished_rng', 'current' or 'rows' has the wrong type")
        for index, rng_state in enumerate(finished_rng):
            prefix = f"finished.{index}."
            params = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            self._check_layer(params, f"finished layer {index}")
            self._check_rng(rng_state, f"finished layer {index}")
            self.finished.append((params, rng_state))
        if current is not None:
            layer, epoch = current.get("layer"), current.get("epoch")
            if not (layer == "dbm" or (isinstance(layer, int) and not isinstance(layer, bool) and layer >= 0)) or \
                    not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
                self._damaged("metadata 'current' needs a layer (an index or 'dbm') and a non-negative epoch")
            self._check_rng(current.get("rng"), f"{layer} after epoch {epoch}")
            current = dict(current)
            current["arrays"] = {k[len("current."):]: v for k, v in arrays.items() if k.startswith("current.")}
            if any(key.startswith("model.") for key in current["arrays"]):
                pass            # a generated PyTorch file's layout: its load_state_dict checks the shapes
            elif layer == "dbm":
                self._check_dbm(current["arrays"])
            else:
                self._check_layer(current["arrays"], f"layer {layer}", training=True)
            self.current = current
        self.rows = list(rows)
        where = f"layer {len(self.finished) + 1}" if self.current is None else \
            f"{self.current['layer']} after epoch {self.current['epoch']}"
        log(f"resuming pretraining from {self.path} ({len(self.finished)} layer(s) done; continuing at {where})")

    def _damaged(self, what: str):
        raise CheckpointError(f"{self.path}: {what}", f"delete {STATE_FILE} to pretrain from scratch")

    def _check_layer(self, arrays: dict, what: str, training: bool = False) -> None:
        """An RBM's saved weight (hidden x visible), bias (hidden) and visible_bias (visible) fit each other;
        with `training`, so do the velocities, the persistent chains and the sparsity activity."""
        names = ("weight", "bias", "visible_bias") + (("velocity.weight", "velocity.bias", "velocity.visible_bias")
                                                      if training else ())
        missing = [name for name in names if name not in arrays]
        if missing:
            self._damaged(f"{what} lacks {', '.join(missing)}")
        weight, bias, visible = arrays["weight"], arrays["bias"], arrays["visible_bias"]
        if weight.ndim != 2 or bias.shape != weight.shape[:1] or visible.shape != weight.shape[1:]:
            self._damaged(f"{what}: weight {weight.shape}, bias {bias.shape} and visible_bias {visible.shape} "
                          "do not fit together")
        wanted = {f"velocity.{k}": arrays[k].shape for k in ("weight", "bias", "visible_bias")}
        wanted["activity"] = bias.shape
        chain = arrays.get("chain")
        if chain is not None and (chain.ndim != 2 or chain.shape[1:] != visible.shape):
            self._damaged(f"{what}: chain has shape {chain.shape}, it needs (chains, {visible.shape[0]})")
        for key, shape in wanted.items():
            if key in arrays and arrays[key].shape != shape:
                self._damaged(f"{what}: {key} has shape {arrays[key].shape}, it needs {shape}")

    def _check_dbm(self, arrays: dict) -> None:
        """Joint DBM training's weights (layer i+1 x layer i), biases, velocities and chains fit each other."""
        count = sum(1 for key in arrays if key.startswith("bias."))
        sizes = []
        for i in range(count):
            bias = arrays.get(f"bias.{i}")
            if bias is None or bias.ndim != 1:
                self._damaged(f"dbm state: bias.{i} is missing or not a vector")
            sizes.append(bias.shape[0])
        wanted = {}
        for i in range(count):
            wanted[f"bias.{i}"] = wanted[f"velocity.bias.{i}"] = (sizes[i],)
            wanted[f"chain.{i}"] = None
            if i + 1 < count:
                wanted[f"weight.{i}"] = wanted[f"velocity.weight.{i}"] = (sizes[i + 1], sizes[i])
        chains = arrays.get("chain.0")
        for key, shape in wanted.items():
            value = arrays.get(key)
            if key.startswith("chain."):
                i = int(key.split(".")[1])
                shape = (chains.shape[0] if chains is not None and chains.ndim else 0, sizes[i])
            if value is None or value.shape != shape:
                self._damaged(f"dbm state: {key} has shape {None if value is None else value.shape}, it needs {shape}")

    def _check_rng(self, state, what: str) -> None:
        """A NumPy generator state (a dict) or torch's (a list of bytes) that can be put back."""
        if isinstance(state, list) and state and all(isinstance(b, int) and 0 <= b < 256 for b in state):
            return
        if isinstance(state, dict):
            try:
                np.random.default_rng().bit_generator.state = state
                return
            except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
                pass
        self._damaged(f"the random-number state of {what} is damaged")

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
