"""Formatting helpers shared by the PyTorch lowerings."""
from __future__ import annotations

from collections.abc import Callable

from .. import pysource


def spatial(values) -> str:
    """(5, 5) -> '5'; (3, 1) -> '(3, 1)'."""
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else str(values)


def number(value) -> str:
    """A float without noise: 2.0 -> '2', 0.0001 -> '0.0001', inf -> "float('inf')"."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return pysource.value(value)


def unless(value, pytorch_default, fmt: Callable = number) -> str | None:
    """A keyword argument's text, or None (left out) where it equals PyTorch's own default."""
    return None if value == pytorch_default else fmt(value)


def call(name: str, *args, **kwargs) -> str:
    """'nn.Conv2d(1, 6, kernel_size=5)' from positional and keyword arguments (None kwargs dropped)."""
    parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def batch_axis(axis: int) -> int:
    """A per-sample axis as an axis of the batched tensor."""
    return axis + 1 if axis >= 0 else axis


def simple(expr_fn) -> Callable:
    """A forward that assigns one expression: expr_fn(module_ref, args) -> str."""
    return lambda target, ref, args: [f"{target} = {expr_fn(ref, args)}"]


def module_call(ref, args) -> str:
    return f"{ref}({args[0]})"


def param(node, name: str):
    """The node's parameter `name` (a TensorSpec with the schema's Init)."""
    return next(p for p in node.params if p.name == name)


def init_lines(node) -> list:
    """`__init__` lines that sample each parameter as the schema's Init says, where the spec asks for a
    scheme of its own (`init: xavier|he|normal`); otherwise PyTorch's default, which the schema mirrors."""
    scheme = node.attrs["init"]
    if scheme == "default":
        return []
    lines = [f"# init: {scheme}"]
    for p in node.params:
        lines.append(init_call("{m}." + p.name, p.init))
        if p.init.zero_row is not None:
            lines.append(f"nn.init.zeros_({{m}}.{p.name}[{p.init.zero_row}])")
    return lines


def init_call(tensor: str, init) -> str:
    """The nn.init statement that samples `tensor` as a compiler.registry.Init says."""
    if init.kind == "uniform":
        return f"nn.init.uniform_({tensor}, -{number(init.scale)}, {number(init.scale)})"
    if init.kind == "normal":
        return f"nn.init.normal_({tensor}, std={number(init.scale)})"
    return f"nn.init.zeros_({tensor})" if init.scale == 0 else f"nn.init.constant_({tensor}, {number(init.scale)})"


def option_lines(node) -> list:
    """`__init__` lines for the keys every layer takes: given `weights:` copied in, `trainable: false` frozen."""
    lines = [f"{{m}}.{name}.data.copy_(torch.tensor({pysource.value(values)}))"
             for name, values in (node.attrs.get("weights") or {}).items()]
    if node.attrs.get("trainable") is False:
        lines.append("{m}.requires_grad_(False)")
    return lines


def binary_weight(node, ref: str) -> str:
    """The weight a layer computes with: `binary_weight(self.fc.weight)` for a `binary:` layer (HELPERS)."""
    mode = node.attrs["binary"]
    return f"binary_weight({ref}.weight{', xnor=True' if mode == 'xnor' else ''})"


BINARY_HELPERS = ("binarize", "binary_weight")
