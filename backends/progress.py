"""A dependency-free progress bar and per-epoch metrics log.

Standard library only, so the PyTorch code generator can inline this module into model files.
"""
from __future__ import annotations

import json
import os
import sys
import time


class ProgressBar:
    """`epoch 3/20 [#######.....] 120/180 loss 0.2140 1850 samples/s` on stderr.

    On a terminal the line is redrawn in place (at most 10 times a second) and erased by close(), so that the
    epoch's summary line takes its place. Elsewhere (a log file, a pipe, CI) it is a plain line every
    `every` seconds, with no carriage returns or escape codes.
    """

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream=None, width: int = 24,
                 every: float = 10.0):
        self.total, self.label, self.width = max(int(total), 1), label, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = bool(getattr(self.stream, "isatty", None) and self.stream.isatty())
        self.interval = 0.1 if self.live else every
        self.start = time.perf_counter()
        self.last_draw = 0.0 if self.live else self.start
        self.drawn = False

    def due(self, count: int) -> bool:
        """Whether update(count, ...) would draw now (callers skip computing the metrics otherwise)."""
        if not self.enabled:
            return False
        return time.perf_counter() - self.last_draw >= self.interval or (self.live and count >= self.total)

    def update(self, count: int, samples: int = 0, **metrics) -> None:
        if not self.due(count):
            return
        now = self.last_draw = time.perf_counter()
        shown = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        rate = f" {samples / max(now - self.start, 1e-9):.0f} samples/s" if samples else ""
        if self.live:
            filled = int(self.width * min(count, self.total) / self.total)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}]"
            self.stream.write(f"\r{self.label} {bar} {count}/{self.total} {shown}{rate}\x1b[K")
        else:
            self.stream.write(f"{self.label} {count}/{self.total} {shown}{rate}\n")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Erase a live bar (the caller prints the epoch's line next)."""
        if self.enabled and self.live and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.drawn = False


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
