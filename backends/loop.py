"""The training policy every backend shares: run directory, resume, epochs and steps, learning-rate schedule,
per-epoch lines, metrics.jsonl rows, the plot, checkpoint cadence, Ctrl-C and thread count.

A backend supplies the arithmetic through a small object (see `TrainingRun.fit`); this module decides
everything a user sees and every file a run leaves. Standard library only, besides the progress, plot and
checkpoint modules: generated PyTorch model files inline it, so `python model.py` behaves as `netspec train`.
"""
from __future__ import annotations

import contextlib
import math
import os
import shlex
import signal
import sys
import threading
import time

from backends.plot import write_training_plot
from backends.progress import MetricsLog, ProgressBar

try:  # inside netspec a RunError is a UserError (exit 1, one line); standalone it is a plain Exception
    from netspec.errors import UserError as _RunErrorBase
except ImportError:  # pragma: no cover - inlined into generated model files
    _RunErrorBase = Exception

CHECKPOINT, METRICS, PLOT = "checkpoint.npz", "metrics.jsonl", "training.png"
PRETRAIN_STATE = "pretrain_state.npz"            # pretraining progress (backends/energy/resume.py)
RUN_FILES = (CHECKPOINT, METRICS, PLOT, PRETRAIN_STATE, "pretrained.npz", "pretrain.jsonl")


class RunError(_RunErrorBase):
    """A training or sampling request that cannot be carried out (wrong settings, unsuitable data)."""

    def __init__(self, message: str, hint: str | None = None):
        Exception.__init__(self, message + (f"; {hint}" if hint else ""))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; str() says what is saved and how to continue."""


def thread_count(value: int | None = None) -> int | None:
    """The thread count to use: `value` (--threads), else $NETSPEC_THREADS, else None (the libraries' default)."""
    if value is None:
        text = os.environ.get("NETSPEC_THREADS", "").strip()
        if not text:
            return None
        if not text.isdigit() or int(text) < 1:
            raise RunError(f"NETSPEC_THREADS={text!r}: expected a whole number of threads, 1 or more")
        return int(text)
    if value < 1:
        raise RunError(f"--threads {value}: expected 1 or more")
    return value


def resume_command(prog: str, argv: list) -> str:
    """The command line that continues a run: `prog argv` without --overwrite, with --resume."""
    args = [arg for arg in argv if arg != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join([*shlex.split(prog), *args])


def prepare_run_dir(out: str, resume: bool, overwrite: bool, pretraining: bool = False, remove: bool = True) -> None:
    """Refuse to train over an earlier run unless told to continue it (resume) or to discard it (overwrite).

    A run is there when out/checkpoint.npz (or pretraining progress) exists. Resuming needs a checkpoint, or
    saved pretraining progress for a spec that pretrains. remove False: check only (the other ranks of a
    distributed run; rank 0 removes the files).
    """
    if resume and overwrite:
        raise RunError("--resume and --overwrite exclude each other", "choose one")
    checkpoint = os.path.join(out, CHECKPOINT)
    held = [name for name in (CHECKPOINT, PRETRAIN_STATE) if os.path.exists(os.path.join(out, name))]
    if resume:
        if CHECKPOINT in held or (pretraining and held):
            return
        raise RunError(f"{checkpoint}: no checkpoint to resume from", "train without --resume to start this run")
    if not held:
        return
    if not overwrite:
        raise RunError(f"{out} already holds a training run ({', '.join(held)})",
                       "continue it with --resume, or start again with --overwrite")
    for name in RUN_FILES if remove else ():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(out, name))


def scheduled_lr(schedule, base_lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of 0-based `epoch`: PyTorch's StepLR / ExponentialLR / CosineAnnealingLR value.

    `schedule` is the spec's validated train.schedule (a dict, or anything with .get).
    """
    kind = schedule.get("type")
    if kind == "step":
        return base_lr * schedule.get("gamma") ** (epoch // schedule.get("every"))
    if kind == "exponential":
        return base_lr * schedule.get("gamma") ** epoch
    if kind == "cosine":
        period = schedule.get("t_max") or max(epochs, 1)
        low = schedule.get("min_lr")
        return low + (base_lr - low) * (1 + math.cos(math.pi * epoch / period)) / 2
    return base_lr


def done_line(result: dict) -> str:
    """`done: backend=numpy, epochs=20, final_loss=0.0123, ..., samples_per_second=9375, ...`: plain numbers."""
    def shown(value) -> str:
        if not isinstance(value, float):
            return str(value)
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return "done: " + ", ".join(f"{key}={shown(value)}" for key, value in result.items())


def epoch_line(row: dict, epochs: int) -> str:
    """`epoch 3/20: train_loss 0.2140, train_accuracy 0.9312, test_loss ..., lr 0.05, 1.23 s, 1850 samples/s`."""
    shown = [f"{key} {row[key]:.4f}" for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy",
                                                 "g_loss", "d_real", "d_fake")
             if key in row]
    shown += [f"lr {row['lr']:.4g}", f"{row['seconds']:.2f} s", f"{row['samples_per_second']:.0f} samples/s"]
    return f"epoch {row['epoch']}/{epochs}: " + ", ".join(shown)


@contextlib.contextmanager
def _finish_before_interrupt():
    """Hold back Ctrl-C until the block is done, then raise it (only where Python's own handler is installed)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler \
            or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class TrainingRun:
    """One run's policy: which epochs run, when it stops, what is printed, recorded, plotted and saved."""

    def __init__(self, out: str, epochs: int, schedule, base_lr: float, checkpoint_every: int = 1,
                 max_steps: int | None = None, progress: bool = True, leader: bool = True,
                 resume_command: str | None = None):
        self.out, self.epochs, self.schedule, self.base_lr = out, epochs, schedule, base_lr
        self.every, self.max_steps = max(int(checkpoint_every or 1), 1), max_steps
        self.progress, self.leader = progress and leader, leader
        self.resume_command = resume_command
        self.checkpoint = os.path.join(out, CHECKPOINT)
        self.start_epoch = 0
        self.saved_epoch: int | None = None           # the epoch of the newest checkpoint on disk
        self.metrics: MetricsLog | None = None
        self.bar: ProgressBar | None = None

    def log(self, message: str) -> None:
        if self.progress:
            print(message, file=sys.stderr, flush=True)

    def resumed_from(self, meta: dict) -> int:
        """Note that the run continues from a checkpoint with this metadata; return its epoch."""
        self.start_epoch = self.saved_epoch = int(meta.get("epoch", 0))
        if meta.get("partial"):
            self.log(f"note: {self.checkpoint} was saved inside epoch {self.start_epoch + 1} (--max-steps); "
                     "that epoch restarts from those weights")
        self.log(f"resuming from epoch {self.start_epoch} ({self.checkpoint})")
        return self.start_epoch

    def open_metrics(self, resume: bool) -> None:
        """Start metrics.jsonl (rank 0 only); a resumed run keeps the rows up to its checkpoint's epoch."""
        if self.leader:
            self.metrics = MetricsLog(os.path.join(self.out, METRICS), resume=resume)
            if resume:
                self.metrics.truncate(self.start_epoch)

    @contextlib.contextmanager
    def interruptible(self):
        """Turn Ctrl-C into Interrupted, whose message names the last saved epoch and the resume command."""
        try:
            yield
        except Interrupted:
            raise
        except KeyboardInterrupt:
            if self.bar is not None:
                self.bar.close()
            raise Interrupted(self.interrupted_message()) from None

    def interrupted_message(self) -> str:
        again = self.resume_command or "the same command with --resume"
        if self.saved_epoch is not None:
            return f"the last checkpoint is epoch {self.saved_epoch} ({self.checkpoint}); continue with: {again}"
        if os.path.exists(os.path.join(self.out, PRETRAIN_STATE)):
            return (f"pretraining progress is saved in {os.path.join(self.out, PRETRAIN_STATE)}; "
                    f"continue with: {again}")
        first = min(self.every, self.epochs) or 1
        return f"no checkpoint was saved yet (the first comes after epoch {first}); run the command again to start over"

    def _save(self, steps, epoch: int, partial: bool = False) -> None:
        with _finish_before_interrupt():      # Ctrl-C while saving: the message names the checkpoint on disk
            if self.leader:
                steps.save(epoch, partial)
            self.saved_epoch = epoch

    def fit(self, steps, backend: str) -> dict:
        """Run the remaining epochs; return the run's figures (see backends.base.RESULT_KEYS).

        `steps`, the backend's half: set_lr(lr); batches(epoch) -> a sequence of index batches;
        step(batch) -> (mean loss, mean accuracy or None), floats or tensors; totals(loss_sum, accuracy_sum,
        samples) -> the same as plain numbers summed over every process; evaluate() -> {'test_loss', ...};
        save(epoch, partial) writes the checkpoint.
        """
        seconds, samples, final_loss, steps_left = 0.0, 0, None, self.max_steps
        done, partial, fresh, ran = self.start_epoch, False, None, False
        for epoch in range(self.start_epoch + 1, self.epochs + 1):
            if steps_left is not None and steps_left <= 0:
                break
            lr = scheduled_lr(self.schedule, self.base_lr, epoch - 1, self.epochs)
            steps.set_lr(lr)
            batches = steps.batches(epoch)
            self.bar = ProgressBar(len(batches), f"epoch {epoch}/{self.epochs}", enabled=self.progress)
            loss_sum, accuracy_sum, seen, began = 0.0, 0.0, 0, time.perf_counter()
            for index, batch in enumerate(batches, 1):
                if steps_left is not None and steps_left <= 0:
                    partial = True
                    break
                loss, accuracy = steps.step(batch)
                ran = True
                count = len(batch)
                loss_sum, seen = loss_sum + loss * count, seen + count
                accuracy_sum = None if accuracy is None else accuracy_sum + accuracy * count
                steps_left = None if steps_left is None else steps_left - 1
                if isinstance(loss, float) and not math.isfinite(loss):
                    self._diverged(loss, epoch)
                if self.bar.due(index):
                    self.bar.update(index, seen, loss=float(loss_sum) / seen)
            self.bar.close()
            self.bar = None
            elapsed = time.perf_counter() - began
            loss_total, accuracy_total, seen = steps.totals(loss_sum, accuracy_sum, seen)
            seconds, samples = seconds + elapsed, samples + seen
            final_loss = loss_total / max(seen, 1)
            if not math.isfinite(final_loss):
                self._diverged(final_loss, epoch)
            if partial:                 # cut short by max_steps: no metrics row for a partial epoch
                break
            done, fresh = epoch, self._row(steps, epoch, lr, final_loss, accuracy_total, seen, elapsed)
            if epoch % self.every == 0 or epoch == self.epochs:
                self._save(steps, epoch)        # the weights first: a full disk then fails on the checkpoint
            self._publish(fresh)
        if partial or (ran and self.saved_epoch != done) or not os.path.exists(self.checkpoint):
            self._save(steps, done, partial)       # keep the newest weights (a stop inside an epoch: partial)
        rows = self.metrics.rows if self.metrics is not None else []
        if final_loss is None and rows:     # resumed after the last epoch: report the recorded one
            final_loss = rows[-1].get("train_loss")
        result = {"backend": backend, "epochs": done, "final_loss": final_loss, "seconds": round(seconds, 4),
                  "samples_per_second": samples / seconds if seconds else 0.0, "checkpoint": self.checkpoint,
                  "metrics": os.path.join(self.out, METRICS)}
        if rows:
            result["plot"] = os.path.join(self.out, PLOT)
        if fresh is not None and not partial and self.leader:
            result.update({k: v for k, v in fresh.items() if k.startswith("test_")})
        elif partial or ran or not rows:
            result.update(steps.evaluate())
        else:
            result.update({k: v for k, v in rows[-1].items() if k.startswith("test_")})
        return result

    def _row(self, steps, epoch, lr, train_loss, accuracy_total, seen, elapsed) -> dict:
        """The epoch's metrics row (evaluated on the test split by rank 0)."""
        row = {"epoch": epoch, "lr": lr, "train_loss": train_loss}
        if accuracy_total is not None:
            row["train_accuracy"] = accuracy_total / max(seen, 1)
        if self.leader:
            row.update(steps.evaluate())
        row.update(seconds=round(elapsed, 4), samples_per_second=seen / max(elapsed, 1e-9))
        return row

    def _publish(self, row: dict) -> None:
        """The row appended to metrics.jsonl, plotted and printed (rank 0); a failed write names its file."""
        if self.metrics is not None:           # rank 0: the row, and the plot of every row so far
            for path, write in ((os.path.join(self.out, METRICS), lambda: self.metrics.append(row)),
                                (os.path.join(self.out, PLOT), lambda: write_training_plot(
                                    os.path.join(self.out, PLOT), self.metrics.rows))):
                try:
                    write()
                except OSError as exc:
                    raise RunError(f"{path}: cannot write it: {exc.strerror or exc}",
                                   "free some disk space and run again with --resume") from None
        self.log(epoch_line(row, self.epochs))

    def _diverged(self, loss, epoch: int) -> None:
        raise RunError(f"training diverged: the loss became {loss} in epoch {epoch}",
                       "lower the learning rate or add grad_clip")
