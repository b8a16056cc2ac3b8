"""Lowering of each layer type to PyTorch source: the submodule a node becomes and the statements of its forward.

`TORCH` holds one entry per layer type, a function node -> `Lowering`, registered with `@TORCH.layer("op")`
in the module that mirrors the type's compiler family (`compiler/layers/conv.py` -> `lower/conv.py`).
An activation's entry also carries its expression, which serves a fused `activation:` on other layers too
(see lower/activation.py). Helper definitions that generated files need (e.g. the `RBM` module) are
registered in `HELPERS` by the module whose lowering uses them and emitted once when some layer asks.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backends.lowering import Lowerings

from .common import option_lines

TORCH = Lowerings("torch", "backends.torch.lower")
HELPERS: dict[str, str] = {}


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


def lower(node) -> Lowering:
    """The Lowering of a node, its fused activation applied to the result."""
    result = TORCH.get(node.op)(node)
    if node.activation:          # an activation layer has no `activation:` of its own
        act = TORCH.get(node.activation)
        result.forward = _with_activation(result.forward, act.expression, node.activation_attrs)
        result.helpers = (*result.helpers, *getattr(act, "helpers", ()))
    if result.module is not None:                # `weights:` and `trainable: false`, on any layer type
        result.init = [*result.init, *option_lines(node)]
    return result


def helper_sources() -> dict[str, str]:
    """Every helper definition a lowering may ask for (name -> source)."""
    TORCH.ops()          # loads every lowering module, and with them their helpers
    return HELPERS


def _with_activation(forward, expression, attrs) -> Callable:
    """A forward whose result passes through an activation: nested in its last expression where that
    expression would be evaluated once, else applied to the assigned variable in a statement of its own."""
    once = expression("\0", attrs).count("\0") == 1

    def wrapped(target, ref, args):
        lines = forward(target, ref, args)
        prefix = f"{target} = "
        if once and lines[-1].startswith(prefix):
            return lines[:-1] + [prefix + expression(lines[-1][len(prefix):], attrs)]
        return lines + [prefix + expression(target, attrs)]
    return wrapped
