"""A dependency-free progress bar and per-epoch metrics log.

Standard library only, so the PyTorch code generator can inline this module into model files.
"""
from __future__ import annotations

import json
import os
import sys
import time


class ProgressBar:
    """`epoch 3/20 [#######.....] 120/180 loss 0.2140 1,850 samples/s` on stderr, redrawn in place."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream=None, width: int = 24):
        self.total, self.label, self.width = max(int(total), 1), label, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.count = 0

    def update(self, count: int, samples: int = 0, **metrics) -> None:
        self.count = count
        now = time.perf_counter()
        if not self.enabled or (now - self.last_draw < 0.1 and count < self.total):
            return
        self.last_draw = now
        filled = int(self.width * min(count, self.total) / self.total)
        rate = samples / max(now - self.start, 1e-9)
        shown = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        line = f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {count}/{self.total} {shown}"
        if samples:
            line += f" {rate:,.0f} samples/s"
        end = "\n" if count >= self.total else ""
        self.stream.write(line + "\x1b[K" + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.count < self.total:
            self.stream.write("\n")
            self.stream.flush()


class MetricsLog:
    """Appends one JSON object per epoch to `metrics.jsonl`; on resume, keeps the epochs already done."""

    def __init__(self, path: str, resume: bool = False):
        self.path = path
        self.rows: list[dict] = []
        if resume and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                self.rows = [json.loads(line) for line in handle if line.strip()]
        elif os.path.exists(path):
            os.unlink(path)

    def truncate(self, epochs_done: int) -> None:
        """Drop rows past the checkpoint a resumed run restarts from, and rewrite the file."""
        self.rows = [row for row in self.rows if row.get("epoch", 0) <= epochs_done]
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in self.rows)
        os.replace(tmp, self.path)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
