"""What every backend shares: run options and the result of a training run."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainOptions:
    """Command-line settings of a training run (the spec's `train:` section holds the rest)."""

    out_dir: str                      # checkpoints, metrics.jsonl and plots go here
    resume: bool = False              # continue from out_dir/checkpoint.npz
    overwrite: bool = False           # discard an earlier run in out_dir (otherwise refused)
    epochs: int | None = None         # override train.epochs
    batch_size: int | None = None
    seed: int | None = None
    dtype: str | None = None          # float32 | float64
    data: dict = field(default_factory=dict)   # overrides of train.data
    progress: bool = True             # progress bars on stderr
    max_steps: int | None = None      # stop early (tests, benchmarks)
    resume_command: str | None = None  # the command line that continues this run (named on Ctrl-C)


RESULT_KEYS = ("backend", "epochs", "final_loss", "test_accuracy", "test_loss", "seconds", "samples_per_second",
               "checkpoint")


def resolve_data_path(graph, path: str | None) -> str | None:
    """A data path from a spec: relative paths are tried beside the spec file first, then the cwd."""
    import os
    if not path or os.path.isabs(path):
        return path
    beside = os.path.join(os.path.dirname(os.path.abspath(graph.source)), path) if graph.source else path
    return beside if os.path.exists(beside) else path
