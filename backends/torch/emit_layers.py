"""Lowering of each IR op to PyTorch: the submodule it becomes and the forward statement that calls it.

One `Lowering` per layer type, registered in `LOWERINGS`; a new layer type (or a backend concern such
as energy models) adds an entry with `@lowering("op")`. Helper definitions that generated files need
(e.g. the `RBM` module) live in `HELPERS` and are emitted once when some layer asks for them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import pysource


@dataclass
class Lowering:
    """How one node appears in generated code.

    module: constructor expression assigned to `self.<name>` in `__init__` (None: nothing to construct).
    init: extra `__init__` lines; `{m}` stands for the submodule reference (e.g. `self.fc1`).
    forward: (target, module_ref, args) -> statements that assign `target` from the input variables.
    helpers: names of `HELPERS` entries the code uses.
    weights_of: nodes whose submodule's `.weight` the forward receives after its inputs (tied weights).
    """

    forward: Callable
    module: str | None = None
    init: list = field(default_factory=list)
    helpers: tuple = ()
    weights_of: tuple = ()


LOWERINGS: dict[str, Callable] = {}
HELPERS: dict[str, str] = {}


def lowering(*ops):
    """Register a function node -> Lowering for the given ops."""
    def wrap(fn):
        for op in ops:
            LOWERINGS[op] = fn
        return fn
    return wrap


def lower(node) -> Lowering:
    """The Lowering of a node, its fused activation applied to the result."""
    if node.op not in LOWERINGS:
        raise NotImplementedError(f"the torch backend cannot lower layer type '{node.op}' (layer '{node.name}')")
    result = LOWERINGS[node.op](node)
    if node.op not in ACTIVATION_OPS and node.activation:
        result.forward = _with_activation(result.forward, node.activation, channel_dim(node))
    return result


# ---------------------------------------------------------------- formatting helpers

def spatial(values) -> str:
    """(5, 5) -> '5'; (3, 1) -> '(3, 1)'."""
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else str(values)


def number(value) -> str:
    """A float without noise: 2.0 -> '2', 0.0001 -> '0.0001', inf -> "float('inf')"."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return pysource.value(value)


def call(name: str, *args, **kwargs) -> str:
    """'nn.Conv2d(1, 6, kernel_size=5)' from positional and keyword arguments (None kwargs dropped)."""
    parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def batch_axis(axis: int) -> int:
    """A per-sample axis as an axis of the batched tensor."""
    return axis + 1 if axis >= 0 else axis


def channel_dim(node) -> int:
    """The batched axis that holds features: channels for conv/pool outputs, else the last one."""
    return 1 if node.op.startswith("conv") else -1


def simple(expr_fn) -> Callable:
    """A forward that assigns one expression: expr_fn(module_ref, args) -> str."""
    return lambda target, ref, args: [f"{target} = {expr_fn(ref, args)}"]


def module_call(ref, args) -> str:
    return f"{ref}({args[0]})"


# ---------------------------------------------------------------- activations

def activation_expr(kind: str, arg: str, dim: int = -1, slope: float | None = None) -> str:
    """The expression of an activation applied to the variable `arg`."""
    if kind == "relu":
        return f"F.relu({arg})"
    if kind == "leaky_relu":
        return f"F.leaky_relu({arg})" if slope in (None, 0.01) else f"F.leaky_relu({arg}, {number(slope)})"
    if kind == "sigmoid":
        return f"torch.sigmoid({arg})"
    if kind == "tanh":
        return f"torch.tanh({arg})"
    if kind == "softmax":
        return f"F.softmax({arg}, dim={dim})"
    if kind == "step":
        return f"({arg} > 0).to({arg}.dtype)"
    if kind == "sign":
        return f"torch.sign({arg})"
    if kind == "identity":
        return arg
    raise NotImplementedError(f"activation '{kind}'")


def _with_activation(forward, kind: str, dim: int) -> Callable:
    def wrapped(target, ref, args):
        lines = forward(target, ref, args)
        last = lines[-1]
        prefix = f"{target} = "
        if kind in ("step",) or not last.startswith(prefix):      # needs the value twice: apply in place
            return lines + [f"{target} = {activation_expr(kind, target, dim)}"]
        return lines[:-1] + [prefix + activation_expr(kind, last[len(prefix):], dim)]
    return wrapped


ACTIVATION_OPS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "step", "sign", "identity")


@lowering(*ACTIVATION_OPS)
def _activation(node):
    kind, attrs = node.op, node.attrs
    dim = batch_axis(attrs["axis"]) if kind == "softmax" else -1
    if kind == "step":
        return Lowering(lambda target, ref, args: [f"{target} = {activation_expr(kind, args[0])}"])
    return Lowering(simple(lambda ref, args: activation_expr(kind, args[0], dim, attrs.get("slope"))))


# ---------------------------------------------------------------- layers with parameters

def _init_lines(node) -> list:
    """Weight initialisation other than PyTorch's default (attr `init`)."""
    scheme = node.attrs.get("init", "default")
    if scheme in (None, "default"):
        return []
    weight = {"xavier": "nn.init.xavier_uniform_({m}.weight)",
              "he": 'nn.init.kaiming_normal_({m}.weight, nonlinearity="relu")',
              "normal": "nn.init.normal_({m}.weight, std=0.01)"}[scheme]
    return [weight] + (["nn.init.zeros_({m}.bias)"] if node.attrs.get("bias", True) else [])


@lowering("linear")
def _linear(node):
    a = node.attrs
    module = call("nn.Linear", node.in_shapes[0][-1], a["units"], bias=None if a["bias"] else False)
    return Lowering(simple(module_call), module, _init_lines(node))


@lowering("conv1d", "conv2d")
def _conv(node):
    a = node.attrs
    padding = a["padding"]
    if padding == "valid" or (not isinstance(padding, str) and not any(padding)):
        padding = None
    elif padding == "same":
        padding = '"same"'
    else:
        padding = spatial(padding)
    module = call(f"nn.Conv{node.op[4]}d", node.in_shapes[0][0], a["filters"], spatial(a["kernel"]),
                  stride=None if set(a["stride"]) == {1} else spatial(a["stride"]), padding=padding,
                  dilation=None if set(a["dilation"]) == {1} else spatial(a["dilation"]),
                  groups=None if a["groups"] == 1 else a["groups"], bias=None if a["bias"] else False)
    return Lowering(simple(module_call), module, _init_lines(node))


@lowering("batchnorm")
def _batchnorm(node):
    a = node.attrs
    kind = "nn.BatchNorm2d" if len(node.in_shapes[0]) == 3 else "nn.BatchNorm1d"
    module = call(kind, node.in_shapes[0][0], eps=None if a["eps"] == 1e-5 else number(a["eps"]),
                  momentum=None if a["momentum"] == 0.1 else number(a["momentum"]),
                  affine=None if a["affine"] else False)
    return Lowering(simple(module_call), module)


@lowering("embedding")
def _embedding(node):
    a = node.attrs
    module = call("nn.Embedding", a["vocab"], a["dim"], padding_idx=a["padding_idx"])
    return Lowering(simple(module_call), module)


@lowering("rnn", "lstm", "gru")
def _recurrent(node):
    a = node.attrs
    kind = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}[node.op]
    module = call(kind, node.in_shapes[0][1], a["hidden"], num_layers=a["layers"] if a["layers"] > 1 else None,
                  nonlinearity='"relu"' if a.get("nonlinearity") == "relu" else None,
                  bias=None if a["bias"] else False, batch_first=True,
                  dropout=number(a["dropout"]) if a["dropout"] else None,
                  bidirectional=True if a["bidirectional"] else None)
    hidden = a["hidden"]

    def forward(target, ref, args):
        if a["return_sequences"]:
            return [f"{target}, _ = {ref}({args[0]})"]
        steps = f"{target}_steps"
        if not a["bidirectional"]:
            return [f"{steps}, _ = {ref}({args[0]})", f"{target} = {steps}[:, -1]  # the last step's output"]
        return [f"{steps}, _ = {ref}({args[0]})",
                "# forward direction's last step, backward direction's first step (each saw the whole sequence)",
                f"{target} = torch.cat([{steps}[:, -1, :{hidden}], {steps}[:, 0, {hidden}:]], dim=-1)"]
    return Lowering(forward, module)


HELPERS["RBM"] = '''
class RBM(nn.Module):
    """A restricted Boltzmann machine used as a feed-forward layer: the mean of its hidden units.

    weight is (hidden, visible); bias is the hidden bias and visible_bias the visible one (used by
    pretraining and reconstruction).
    """

    def __init__(self, visible: int, hidden: int, hidden_units: str = "bernoulli", init_scale: float = 0.01):
        super().__init__()
        self.hidden_units = hidden_units
        self.weight = nn.Parameter(torch.randn(hidden, visible) * init_scale)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.visible_bias = nn.Parameter(torch.zeros(visible))

    def forward(self, x):
        pre = F.linear(x, self.weight, self.bias)
        if self.hidden_units == "bernoulli":
            return torch.sigmoid(pre)
        if self.hidden_units == "relu":
            return F.relu(pre)
        return pre
'''


@lowering("rbm")
def _rbm(node):
    a = node.attrs
    scale = a.get("init_scale")
    module = call("RBM", node.in_shapes[0][0], a["hidden"],
                  hidden_units=None if a["hidden_units"] == "bernoulli" else f'"{a["hidden_units"]}"',
                  init_scale=None if scale in (None, 0.01) else number(scale))
    return Lowering(simple(module_call), module, helpers=("RBM",))


HELPERS["TiedDecoder"] = '''
class TiedDecoder(nn.Module):
    """The decoder half of an unrolled RBM: x W + bias, with W the (hidden, visible) weight of its RBM."""

    def __init__(self, visible: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(visible))

    def forward(self, x, weight):
        return F.linear(x, weight.t(), self.bias)
'''


@lowering("tied")
def _tied(node):
    def forward(target, ref, args):
        return [f"# weight tied to {node.attrs['of']} (transposed)", f"{target} = {ref}({args[0]}, {args[1]})"]
    return Lowering(forward, call("TiedDecoder", node.attrs["units"]), helpers=("TiedDecoder",),
                    weights_of=(node.attrs["of"],))


# ---------------------------------------------------------------- parameterless modules and functions

@lowering("dropout")
def _dropout(node):
    return Lowering(simple(module_call), call("nn.Dropout", number(node.attrs["p"])))


@lowering("lrn")
def _lrn(node):
    a = node.attrs
    module = call("nn.LocalResponseNorm", a["size"], alpha=None if a["alpha"] == 1e-4 else number(a["alpha"]),
                  beta=None if a["beta"] == 0.75 else number(a["beta"]), k=None if a["k"] == 1.0 else number(a["k"]))
    return Lowering(simple(module_call), module)


def _pool_kwargs(a) -> dict:
    return {"stride": None if a["stride"] == a["kernel"] else spatial(a["stride"]),
            "padding": spatial(a["padding"]) if any(a.get("padding", ())) else None,
            "ceil_mode": True if a["ceil_mode"] else None}


@lowering("maxpool1d", "maxpool2d")
def _maxpool(node):
    a = node.attrs
    module = call(f"nn.MaxPool{node.op[-2]}d", spatial(a["kernel"]), **_pool_kwargs(a),
                  dilation=None if set(a["dilation"]) == {1} else spatial(a["dilation"]))
    return Lowering(simple(module_call), module)


@lowering("avgpool1d", "avgpool2d")
def _avgpool(node):
    a = node.attrs
    module = call(f"nn.AvgPool{node.op[-2]}d", spatial(a["kernel"]), **_pool_kwargs(a),
                  count_include_pad=None if a["count_include_pad"] else False)
    return Lowering(simple(module_call), module)


@lowering("lppool2d")
def _lppool(node):
    a = node.attrs
    kwargs = _pool_kwargs(a)
    module = call("nn.LPPool2d", number(a["norm"]), spatial(a["kernel"]), stride=kwargs["stride"],
                  ceil_mode=kwargs["ceil_mode"])
    return Lowering(simple(module_call), module)


@lowering("adaptive_avgpool2d")
def _adaptive(node):
    return Lowering(simple(module_call), call("nn.AdaptiveAvgPool2d", spatial(node.attrs["output"])))


@lowering("global_avgpool", "global_maxpool")
def _global_pool(node):
    dims = "(2, 3)" if len(node.in_shapes[0]) == 3 else "2"
    method = "mean" if node.op == "global_avgpool" else "amax"
    return Lowering(simple(lambda ref, args: f"{args[0]}.{method}(dim={dims})"))


@lowering("flatten")
def _flatten(node):
    return Lowering(simple(lambda ref, args: f"torch.flatten({args[0]}, 1)"))


@lowering("reshape")
def _reshape(node):
    dims = ", ".join(str(d) for d in node.shape)
    return Lowering(simple(lambda ref, args: f"{args[0]}.reshape(-1, {dims})"))


@lowering("add")
def _add(node):
    return Lowering(simple(lambda ref, args: " + ".join(args)))


@lowering("mul")
def _mul(node):
    return Lowering(simple(lambda ref, args: " * ".join(args)))


@lowering("concat")
def _concat(node):
    axis = batch_axis(node.attrs["axis"] % len(node.in_shapes[0]))
    return Lowering(simple(lambda ref, args: f"torch.cat([{', '.join(args)}], dim={axis})"))


def has_module(node) -> bool:
    """Whether the node becomes a submodule (and so an attribute of its parent module)."""
    return lower(node).module is not None
