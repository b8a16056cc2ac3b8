"""NumpyOps: the runtime's array kernels on the CPU (NumPy + float32 BLAS, Numba for window loops).

The layer kernels are lowerings in backends/numpy/lower/ (one module per compiler family); this class holds
what they share: array primitives, losses, optimizers, the threading helpers and the recurrent primitives.
"""
from __future__ import annotations

import numpy as np

from backends.runtime.ops import Ops
from netspec.losses import IGNORE

from . import kernels
from .lower import NUMPY
from .lower.activation import sigmoid
from .recurrent import RecurrentOps
from .split import batch_split


class NumpyOps(RecurrentOps, Ops):
    """The runtime's Ops on NumPy arrays; layer kernels come from the NUMPY table."""

    name = "numpy"
    lowerings = NUMPY

    def __init__(self, dtype: str = "float32", rng=None):
        super().__init__(dtype, rng)
        import numba
        self.threads = numba.get_num_threads()
        self.batch_parallel = False

    def plan(self, graph, packed=frozenset()) -> None:
        """Choose where the threads go. A graph with a layer whose lowering is `batch_parallel` (convolutions,
        pools) or with bit-packed layers (whose kernels split their rows over the threads) runs batch-parallel:
        each thread takes a slice of the batch through those layers (and through big linear layers), with BLAS
        on one thread, since OpenBLAS's idle workers spin and would take the cores from the slices (a packed
        4096x4096 layer right after a 2-thread BLAS product ran no faster on 2 threads than on one). Other
        graphs (dense, recurrent) leave the threads to BLAS, which splits their large products itself."""
        from . import set_blas_threads
        wanted = self.threads > 1 and (bool(packed) or any(
            getattr(self.lowerings.get(node.op), "batch_parallel", False) for node in graph.layers()))
        self.batch_parallel = set_blas_threads(1 if wanted else None) and wanted
        if self.batch_parallel:
            batch_split(self.threads).reset()

    # A split costs ~50 us of hand-offs: layers that read and write fewer elements than this run whole
    # (on 8x8 digits a split CNN trained at 8,100 against 13,200 samples/s whole).
    MIN_SPLIT_ELEMENTS = 1 << 17

    def over_batch(self, fn, n: int, elements: int) -> None:
        """fn(lo, hi) over contiguous slices of range(n), one per thread when the graph runs batch-parallel
        and the layer touches at least MIN_SPLIT_ELEMENTS elements (the lowerings call it for their
        per-sample work)."""
        if self.batch_parallel and elements >= self.MIN_SPLIT_ELEMENTS:
            batch_split(self.threads).run(fn, n)
        else:
            fn(0, n)

    # In a batch-parallel graph BLAS runs on one thread, so a linear layer with this much work (batch x
    # inputs x outputs multiply-adds) splits it over the threads itself: rows of the batch for the output and
    # the input gradient, rows of the weight for its gradient (lower/dense.py).
    LINEAR_SPLIT_WORK = 1 << 23

    def over_linear(self, fn, rows: int, work: int) -> None:
        """fn(lo, hi) over row slices when the product is big enough to split, else over all rows."""
        if work >= self.LINEAR_SPLIT_WORK:
            self.over_batch(fn, rows, work)
        else:
            fn(0, rows)

    def over_threads(self, fn, n: int, work: int) -> None:
        """fn(lo, hi) over slices of range(n), one per thread, when `work` is at least LINEAR_SPLIT_WORK, in
        any graph (the bit-packed products of binary layers, which BLAS's threads do not run)."""
        if self.threads > 1 and work >= self.LINEAR_SPLIT_WORK:
            batch_split(self.threads).run(fn, n)
        else:
            fn(0, n)

    def dropout_mask(self, shape, p: float):
        """Inverted-dropout mask from the runtime's generator (float32 uniforms, as every backend draws)."""
        keep = self.rng.random(shape, dtype=np.float32) >= p
        return keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - p))

    # -- arrays ------------------------------------------------------------------------------
    def from_numpy(self, array):
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:      # np.array keeps 0-d arrays 0-d
            return np.array(array, dtype=np.int64, order="C", copy=True)
        return np.array(array, dtype=self.dtype, order="C", copy=True)

    def to_numpy(self, array):
        return array

    def zeros_like(self, array):
        return np.zeros_like(array)

    def add(self, a, b):
        return a + b

    def sum_squares(self, array) -> float:
        flat = array.reshape(-1)
        return float(flat @ flat)

    def scale_(self, array, factor: float) -> None:
        array *= array.dtype.type(factor)

    # -- binary layers ---------------------------------------------------------------------------
    def binarize_weight(self, weight, xnor: bool):
        one = weight.dtype.type(1)
        out = np.where(weight >= 0, one, -one)
        if xnor:
            out *= np.abs(weight).reshape(len(weight), -1).mean(axis=1).reshape(-1, *[1] * (weight.ndim - 1))
        return out

    def binary_weight_grad(self, grad, weight, xnor: bool):
        inside = np.abs(weight) <= 1
        if not xnor:
            return grad * inside
        rows = len(weight)
        w, g = weight.reshape(rows, -1), grad.reshape(rows, -1)
        alpha = np.abs(w).mean(axis=1, keepdims=True)
        through_alpha = (g * np.where(w >= 0, 1, -1)).sum(axis=1, keepdims=True) / w.shape[1]
        return (g * alpha * inside.reshape(rows, -1) + np.sign(w) * through_alpha).reshape(weight.shape)

    def clamp_(self, array, low: float, high: float) -> None:
        np.clip(array, low, high, out=array)

    def pack_weight(self, binary_weight, folded: bool = False):
        """BIN(W) as sign bits, one row of uint64 words per output channel, or for a layer whose batchnorm and
        binarize are folded in, transposed into 256-channel tiles (backends/numpy/packed.py)."""
        from .packed import pack, slice_weights
        rows = binary_weight.reshape(len(binary_weight), -1)
        signs = pack(rows)[0]
        return slice_weights(signs, rows.shape[1]) if folded else signs

    # -- losses ------------------------------------------------------------------------------
    def loss_forward(self, kind, ctx, output, target, output_activation=None):
        if kind == "cross_entropy":
            return self._cross_entropy(ctx, output, target, output_activation == "softmax")
        if target.shape != output.shape:
            target = target.reshape(output.shape)
        ctx.update(kind=kind, output=output, target=target)
        if kind == "mse":
            diff = output - target
            return float(np.mean(diff * diff))
        if output_activation == "sigmoid":                  # BCELoss on probabilities clamped as PyTorch code does
            p = np.clip(output, 1e-7, 1 - 1e-7)
            ctx["clamped"] = p
            return float(-np.mean(target * np.log(p) + (1 - target) * np.log1p(-p)))
        return float(np.mean(np.maximum(output, 0) - output * target + np.log1p(np.exp(-np.abs(output)))))

    def _cross_entropy(self, ctx, output, target, probabilities: bool) -> float:
        """Mean over the labels that are not IGNORE (-100, PyTorch's ignore_index: padding, unscored steps)."""
        classes = output.shape[-1]
        scores = output.reshape(-1, classes)
        labels = target.reshape(-1)
        if labels.size != scores.shape[0]:
            from netspec.errors import UserError
            raise UserError(f"cross_entropy: the output has {scores.shape[0]} predictions per batch but the "
                            f"targets have {labels.size} labels", "check the spec's output against the data")
        rows = np.flatnonzero(labels != IGNORE)
        labels = labels[rows]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            from netspec.errors import UserError
            bad = int(labels.max()) if labels.max() >= classes else int(labels.min())
            raise UserError(f"cross_entropy: label {bad} does not fit the output's {classes} "
                            "classes", "give the last layer as many units as there are classes")
        ctx.update(kind="cross_entropy", labels=labels, rows=rows, shape=output.shape, probabilities=probabilities,
                   all_rows=len(rows) == scores.shape[0])
        if not len(rows):
            ctx["probs"] = np.zeros_like(scores)
            return 0.0
        if probabilities:                                    # the model ends in softmax: nll(log(p))
            picked = np.maximum(scores[rows, labels], 1e-12)
            ctx.update(picked=picked, raw=scores[rows, labels])
            return float(-np.mean(np.log(picked)))
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        ctx["probs"] = exp / total
        return float(np.mean(np.log(total[rows, 0]) - shifted[rows, labels]))

    def loss_backward(self, ctx):
        kind = ctx["kind"]
        if kind == "cross_entropy":
            count = max(len(ctx["labels"]), 1)
            if ctx["probabilities"]:
                grad = np.zeros((count, ctx["shape"][-1]), dtype=self.dtype)
                grad[ctx["rows"], ctx["labels"]] = np.where(ctx["raw"] > 1e-12, -1.0 / (ctx["picked"] * count), 0)
                return grad.reshape(ctx["shape"])
            grad = ctx["probs"]
            if not ctx["all_rows"]:                   # ignored labels: no gradient
                keep = np.zeros(len(grad), dtype=bool)
                keep[ctx["rows"]] = True
                grad[~keep] = 0
            grad[ctx["rows"], ctx["labels"]] -= 1
            grad *= grad.dtype.type(1.0 / count)
            return grad.reshape(ctx["shape"])
        output, target = ctx["output"], ctx["target"]
        scale = output.dtype.type(1.0 / output.size)
        if kind == "mse":
            return (output - target) * (2 * scale)
        if "clamped" in ctx:
            p = ctx["clamped"]
            inside = (output > 1e-7) & (output < 1 - 1e-7)
            return np.where(inside, (p - target) / (p * (1 - p)), 0).astype(output.dtype) * scale
        return (sigmoid(output) - target) * scale

    # -- optimizers --------------------------------------------------------------------------
    def optimizer_update(self, kind, param, grad, state, hp, step):
        if kind in ("sgd", "adam", "adamw") and param.flags.c_contiguous:
            self._fused_update(kind, param, np.ascontiguousarray(grad, dtype=param.dtype), state, hp, step)
            return
        lr, wd = hp["lr"], hp["weight_decay"]
        if wd and kind != "adamw":
            grad = grad + param * param.dtype.type(wd)
        if kind == "sgd":
            momentum = hp["momentum"]
            if momentum:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.copy()
                else:
                    buf *= momentum
                    buf += grad
                grad = grad + momentum * buf if hp["nesterov"] else buf
            param -= param.dtype.type(lr) * grad
        elif kind == "adagrad":
            total = state.setdefault("sum", np.zeros_like(param))
            total += grad * grad
            param -= param.dtype.type(lr) * grad / (np.sqrt(total) + hp["eps"])
        elif kind == "rmsprop":
            alpha, momentum = hp["alpha"], hp["momentum"]
            square = state.setdefault("square_avg", np.zeros_like(param))
            square *= alpha
            square += (1 - alpha) * grad * grad
            avg = np.sqrt(square) + hp["eps"]
            if momentum:
                buf = state.setdefault("momentum_buffer", np.zeros_like(param))
                buf *= momentum
                buf += grad / avg
                param -= param.dtype.type(lr) * buf
            else:
                param -= param.dtype.type(lr) * grad / avg
        elif kind in ("adam", "adamw"):
            if kind == "adamw" and wd:
                param *= param.dtype.type(1 - lr * wd)
            beta1, beta2 = hp["betas"][0], hp["betas"][1] if len(hp["betas"]) > 1 else 0.999
            m = state.setdefault("exp_avg", np.zeros_like(param))
            v = state.setdefault("exp_avg_sq", np.zeros_like(param))
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            correction1 = 1 - beta1 ** step
            correction2_sqrt = np.sqrt(1 - beta2 ** step)
            denom = np.sqrt(v) / param.dtype.type(correction2_sqrt) + param.dtype.type(hp["eps"])
            param -= param.dtype.type(lr / correction1) * m / denom
        else:
            raise ValueError(f"unknown optimizer {kind}")

    def _fused_update(self, kind, param, grad, state, hp, step):
        """SGD and Adam/AdamW in one Numba pass over each parameter (same arithmetic as the rules above)."""
        flat, gflat = param.reshape(-1), grad.reshape(-1)
        if kind == "sgd":
            first = "momentum_buffer" not in state
            if hp["momentum"] and first:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"].reshape(-1) if hp["momentum"] else gflat
            scalar = param.dtype.type                # float32 arithmetic for float32 parameters, as PyTorch does
            kernels.sgd_update(flat, gflat, buf, scalar(hp["lr"]), scalar(hp["momentum"]), scalar(hp["weight_decay"]),
                               hp["nesterov"], first)
            return
        m = state.setdefault("exp_avg", np.zeros_like(param)).reshape(-1)
        v = state.setdefault("exp_avg_sq", np.zeros_like(param)).reshape(-1)
        betas = hp["betas"]
        kernels.adam_update(flat, gflat, m, v, hp["lr"], betas[0], betas[1] if len(betas) > 1 else 0.999, hp["eps"],
                            hp["weight_decay"], kind == "adamw", step)
