"""CudaOps: the runtime's Ops interface (backends/runtime/ops.py) on Numba-CUDA device arrays.

Parameters, activations, gradients and optimizer state are device arrays for the whole run;
the host sees only input batches going in, and the scalar loss (plus what the runtime asks
for explicitly through to_numpy: predictions, checkpoints) coming out.
"""
from __future__ import annotations

import numpy as np

from backends.runtime.ops import Ops
from netspec.errors import UserError

from .device import to_device
from .kernels import binary, optim
from .kernels import elementwise as ew
from .kernels import loss as losses
from .kernels import random as rnd
from .kernels.reduce import sum_squares
from .lower import CUDA
from .recurrent import RecurrentPrimitives


class Float32Only(UserError, NotImplementedError):
    """Asked for float64: a clear user error (exit 1) that `netspec verify` reports as a skip."""


class CudaOps(RecurrentPrimitives, Ops):
    """Every kernel of the runtime's Ops interface as numba.cuda kernels (float32); the layers' are the
    lowerings in backends/numba_cuda/lower/."""

    name = "numba-cuda"
    lowerings = CUDA

    def __init__(self, dtype: str = "float32", rng: np.random.Generator | None = None):
        if np.dtype(dtype) != np.float32:
            raise Float32Only(f"the numba-cuda backend computes in float32, not {dtype}",
                            "drop --dtype/train.dtype float64, or use --backend numpy")
        super().__init__("float32", rng)
        self._states = None
        self._id_flags: list = []

    # -- device generator and deferred checks ----------------------------------------------------
    def states(self):
        """The on-device xoroshiro128p states, seeded once from the runtime's generator."""
        if self._states is None:
            self._states = rnd.make_states(int(self.rng.integers(0, 2 ** 48)))
        return self._states

    def id_flag(self, vocab: int):
        """A device flag an embedding sets when an id is outside its vocabulary (checked with the loss)."""
        flag = to_device(np.zeros(1, np.int32), np.int32)
        self._id_flags.append((flag, vocab))
        return flag

    def _check_ids(self) -> None:
        flags, self._id_flags = self._id_flags, []
        for flag, vocab in flags:
            if flag.copy_to_host()[0]:
                raise UserError(f"a token id is outside the embedding's vocabulary of {vocab}",
                                "raise 'vocab' to the data's")

    # -- arrays --------------------------------------------------------------------------------
    def from_numpy(self, array):
        array = np.asarray(array)
        if array.ndim == 0:
            return np.array(array)                 # scalar buffers (num_batches_tracked) stay on the host
        if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
            return to_device(array, np.int64)
        return to_device(array, np.float32)

    def to_numpy(self, array):
        self._check_ids()
        if isinstance(array, np.ndarray):
            return array.copy()
        return array.copy_to_host()

    def zeros_like(self, array):
        if isinstance(array, np.ndarray):
            return np.zeros_like(array)
        return ew.zeros(array.shape)

    def add(self, a, b):
        return ew.add(a, b)

    def sum_squares(self, array) -> float:
        return sum_squares(array)

    def scale_(self, array, factor: float) -> None:
        ew.scale(array, factor, out=array)

    # -- binary layers ---------------------------------------------------------------------------
    def binarize_weight(self, weight, xnor: bool):
        return binary.binarize_weight(weight, xnor)

    def binary_weight_grad(self, grad, weight, xnor: bool):
        return binary.binary_weight_grad(grad, weight, xnor)

    def clamp_(self, array, low: float, high: float) -> None:
        binary.clamp_(array, low, high)

    # -- losses --------------------------------------------------------------------------------
    def loss_forward(self, kind, ctx, output, target, output_activation=None):
        self._check_ids()
        if kind == "cross_entropy":
            classes = output.shape[len(output.shape) - 1]
            logits = output.reshape(output.size // classes, classes)
            labels = target.reshape(target.size)
            if labels.size != logits.shape[0]:
                raise UserError(f"cross_entropy: the output has {logits.shape[0]} predictions per batch but the "
                                f"targets have {labels.size} labels", "check the spec's output against the data")
            loss, grad, bad = losses.softmax_cross_entropy(logits, labels, output_activation == "softmax")
            if bad:
                raise UserError(f"cross_entropy: a label does not fit the output's {classes} classes",
                                "give the last layer as many units as there are classes")
        else:
            loss, grad = losses.pointwise_loss(kind, output, target.reshape(*output.shape),
                                               output_activation == "sigmoid")
        ctx.update(grad=grad, shape=output.shape)
        return loss

    def loss_backward(self, ctx):
        return ctx["grad"].reshape(*ctx["shape"])

    # -- optimizers ----------------------------------------------------------------------------
    def optimizer_update(self, kind, param, grad, state, hp, step):
        names = optim.slot_names(kind, hp["momentum"])
        first = bool(names) and names[0] not in state
        for name in names:
            if name not in state:
                state[name] = ew.zeros(param.shape)
        optim.update(kind, param, grad, [state[name] for name in names], hp, step, first)
