"""The array-level kernel interface every executing backend implements (NumpyOps, CudaOps).

The runtime (executor, trainer, optimizers, checkpoints) is backend-neutral: it walks the IR and
calls an `Ops` object for every piece of array work. A backend is one `Ops` subclass.

Conventions
-----------
* Layout is batch-first: an activation of a node with per-sample shape `node.shape` is an array
  of shape `[N, *node.shape]` (symbolic dims resolved to the batch's real sizes). Convolutions and
  pools are channels-first (`[N, C, L]`, `[N, C, H, W]`); sequences are `[N, T, F]`.
* Float arrays have dtype `ops.dtype` (float32 by default, float64 on request); token ids are int64.
* `Array` is whatever the backend stores (np.ndarray, a numba device array, ...). The runtime only
  passes Arrays back into the same Ops object, and crosses to NumPy via `from_numpy` / `to_numpy`.
* Parameters are named and shaped exactly as in PyTorch (`node.params`, `node.buffers`): a linear
  weight is `[units, features]`, a conv2d weight `[filters, in/groups, kh, kw]`, an LSTM
  `weight_ih_l0` `[4H, F]` with gates i, f, g, o; a GRU's gates are r, z, n.
* Randomness (dropout masks) comes from `self.rng`, a `numpy.random.Generator` owned by the
  runtime, so that a resumed run replays the same masks on every backend (a GPU backend draws
  on the host and uploads).

Layer kernels
-------------
For every layer type `op` (see `python -m netspec check --list-types`) a backend registers one lowering
in its table (backends/lowering.py), in `backends/<backend>/lower/<family>.py`, the module named after
the type's family module in compiler/layers/:

    @NUMPY.layer("op", fuses=("relu",), batch_parallel=False)
    class Op:
        def forward(ops, ctx: dict, inputs: list[Array], params: dict[str, Array], attrs: dict, train: bool)
            -> Array
        def backward(ops, ctx: dict, grad_out: Array) -> (list[Array | None], dict[str, Array])

`ops` is the backend's Ops instance. `inputs` are the producers' outputs in `node.inputs` order;
`params` maps local names ('weight', 'bias', 'running_mean', ...) to the node's parameters *and*
buffers; buffers are updated in place (batchnorm running statistics in training mode). `attrs` is
`node.attrs`, typed with every default filled from the schema (spatial attrs are tuples, padding may be
'same'/'valid'): kernels index it (`attrs["slope"]`) and never restate a default. A fused `activation:` is
applied by the runtime through the activation's own lowering with its attrs (`activation: {type:
leaky_relu, slope: 0.2}`), unless the layer's lowering lists it in `fuses`: then the runtime puts the name
in `ctx['activation']` (its attrs in `ctx['activation_attrs']`) and the layer's forward returns
act(layer(x)) and its backward takes the gradient of that activated output (so a bias add and an
activation can share one pass). `ctx` is a fresh dict per node and call in which forward keeps what
backward needs; it arrives holding `ctx['op']` (the layer type) and `ctx['input_grads']`, one bool per
input, False where no trainable parameter lies upstream of the input (graph data, a flatten of it, ...),
so nobody reads its gradient (a kernel may then return None for it and skip the work). backward is called
at most once, only after a forward with `train=True`. backward returns the gradient of every input (None
for integer inputs) and of every trainable parameter (same names, shapes and dtype as the parameters).

Each layer type's shapes, attributes and semantics are its schema's (compiler/layers/<family>.py, listed by
`netspec check --list-types`), which follow PyTorch; the conformance tests hold every backend to them.
Arrays keep the batch first: a per-sample axis `a >= 0` is array axis `a + 1`.

Losses (`kind` in cross_entropy, mse, bce), averaged over every element/sample as PyTorch's
'mean' reduction does:
  loss_forward(kind, ctx, output, target, output_activation) -> float
      cross_entropy: output logits [N, C] with int64 target [N], or [N, T, V] with [N, T]; when
                     output_activation == 'softmax' the output is probabilities: nll(log(max(p, 1e-12)))
      mse:           output and float target of the same shape
      bce:           logits (BCEWithLogits), or when output_activation == 'sigmoid' probabilities
                     clamped to [1e-7, 1 - 1e-7] (BCELoss) -- the same rule as the generated PyTorch code
  loss_backward(ctx) -> Array   the gradient of the loss w.r.t. output

Optimizers: `optimizer_update(kind, param, grad, state, hp, step)` updates `param` in place with
PyTorch's exact rule for kind in sgd, adagrad, rmsprop, adam, adamw. `state` is a dict of Arrays
the backend creates on first use (step == 1) and the runtime checkpoints (names such as
'momentum_buffer', 'exp_avg', 'exp_avg_sq', 'square_avg', 'sum'); `hp` holds lr, momentum,
nesterov, weight_decay, betas, eps, alpha (eps already defaulted per optimizer); `step` counts
from 1.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from backends.lowering import Lowerings

LAYER_OPS = ("linear", "conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "lppool2d",
             "global_avgpool", "global_maxpool", "adaptive_avgpool2d", "flatten", "reshape", "relu",
             "leaky_relu", "sigmoid", "tanh", "softmax", "step", "sign", "identity", "dropout", "batchnorm",
             "lrn", "embedding", "add", "mul", "concat", "rnn", "lstm", "gru", "rbm", "tied")


class Ops(ABC):
    """Array kernels of one backend; see the module docstring for the conventions."""

    name = "abstract"
    lowerings: ClassVar[Lowerings]      # the backend's table of layer kernels (backends/<name>/lower/)

    def __init__(self, dtype: str = "float32", rng: np.random.Generator | None = None):
        self.dtype = np.dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def plan(self, graph, packed=frozenset()) -> None:
        """Called by every Executor for its graph before it runs: a backend may choose how to spend its
        threads on that graph, `packed` naming the layers it runs bit-packed (the default does nothing)."""

    # -- arrays ---------------------------------------------------------------------------------
    @abstractmethod
    def from_numpy(self, array: np.ndarray):
        """A backend Array holding `array` (floats cast to self.dtype, integers kept as int64)."""

    @abstractmethod
    def to_numpy(self, array) -> np.ndarray:
        """A NumPy copy (or view) of a backend Array."""

    @abstractmethod
    def zeros_like(self, array):
        """A zero Array of the same shape and dtype."""

    @abstractmethod
    def add(self, a, b):
        """A new Array a + b (gradient accumulation); never modifies a or b, since kernels may pass one
        gradient Array through unchanged to several inputs."""

    @abstractmethod
    def sum_squares(self, array) -> float:
        """Sum of squared elements as a Python float (global-norm gradient clipping)."""

    @abstractmethod
    def scale_(self, array, factor: float) -> None:
        """array *= factor, in place."""

    # -- layers ---------------------------------------------------------------------------------
    def forward(self, op: str, ctx: dict, inputs: list, params: dict, attrs: dict, train: bool):
        """The output of `op`'s registered lowering."""
        return self.lowerings.get(op).forward(self, ctx, inputs, params, attrs, train)

    def backward(self, op: str, ctx: dict, grad_out):
        """`op`'s backward: (grads of inputs, grads of trainable params by local name)."""
        return self.lowerings.get(op).backward(self, ctx, grad_out)

    def fuses(self, op: str, activation: str) -> bool:
        """Whether `op`'s kernels apply `activation` themselves (its lowering's `fuses`)."""
        return activation in getattr(self.lowerings.get(op), "fuses", ())

    def supports(self, op: str) -> bool:
        return self.lowerings.has(op)

    # -- binary layers (`binary: true | xnor`) -----------------------------------------------------
    @abstractmethod
    def binarize_weight(self, weight, xnor: bool):
        """A new Array BIN(weight): +1 where w >= 0, else -1; with xnor, each output channel (axis 0) times
        its mean |w|."""

    @abstractmethod
    def binary_weight_grad(self, grad, weight, xnor: bool):
        """The latent weight's gradient from the gradient of BIN(weight): grad where |w| <= 1, else 0 (the
        straight-through estimator); with xnor, of alpha * BIN(w), alpha = mean |w| per output channel, also
        through alpha: + sign(w) * sum(grad * BIN(w)) / n per channel (what autograd gives in PyTorch)."""

    @abstractmethod
    def clamp_(self, array, low: float, high: float) -> None:
        """array clamped to [low, high], in place."""

    # -- losses ---------------------------------------------------------------------------------
    @abstractmethod
    def loss_forward(self, kind: str, ctx: dict, output, target, output_activation: str | None = None) -> float:
        """The mean loss of `output` against `target` (see module docstring)."""

    @abstractmethod
    def loss_backward(self, ctx: dict):
        """Gradient of the mean loss w.r.t. the output, shaped like the output."""

    # -- optimizers -----------------------------------------------------------------------------
    @abstractmethod
    def optimizer_update(self, kind: str, param, grad, state: dict, hp: dict, step: int) -> None:
        """One in-place PyTorch-exact update of `param` (see module docstring)."""
