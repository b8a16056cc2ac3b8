"""Keys every layer takes beside its type's attributes: `weights:` (given parameter values, e.g. a perceptron's)
and `trainable: false` (a frozen layer); and the [-1, 1] clip of a `binary:` layer's latent weight.

`read` takes them out of a layer entry at build time (node.attrs keeps them as 'weights' and 'trainable');
`apply` checks the given weights against the parameter shapes that inference found and marks the tensors.
"""
from __future__ import annotations

from netspec.errors import fmt_shape, shown

from .registry import Attr, AttrError, array_shape

COMMON = ("weights", "trainable")
BINARY_CLIP = (-1.0, 1.0)


def read(decl, errors) -> tuple[dict, bool]:
    """({'weights': {name: nested list}, 'trainable': bool} as given, ok): the common keys of a layer entry."""
    out, ok = {}, True
    if "trainable" in decl.attrs:
        value = decl.attrs["trainable"]
        if isinstance(value, bool):
            out["trainable"] = value
        else:
            errors.add(decl.attr_pos.get("trainable", decl.pos), f"'trainable' must be true or false, found "
                       f"{shown(value)}", decl.name, decl.type, "write 'trainable: false' to freeze the layer")
            ok = False
    if "weights" in decl.attrs:
        value, pos = decl.attrs["weights"], decl.attr_pos.get("weights", decl.pos)
        if not isinstance(value, dict) or not value:
            errors.add(pos, f"'weights' must map parameter names to values, found {shown(value)}", decl.name,
                       decl.type, "e.g. 'weights: {weight: [[0.5, 0.5]], bias: [-0.7]}'")
            return out, False
        given = {}
        for name, array in value.items():
            try:
                given[str(name)] = Attr(f"weights.{name}", "array").coerce(array)
            except AttrError as exc:
                errors.add(value.pos_of(name) if hasattr(value, "pos_of") else pos, str(exc), decl.name, decl.type,
                           "give a number or a nested list such as [[0.5, 0.5]]")
                ok = False
        out["weights"] = given
    return out, ok


def wanted(node) -> bool:
    """Whether `apply` has anything to do for an inferred node: given weights, or parameters to freeze or clip."""
    attrs = node.attrs
    return bool(attrs.get("weights") or (node.params and (attrs.get("trainable") is False or attrs.get("binary"))))


def apply(node, errors) -> None:
    """After inference: check `weights:` against the node's parameters and buffers (shape, name), freeze the
    parameters of a `trainable: false` layer, and give a binary layer's weight its clip range."""
    given = node.attrs.get("weights")
    if given:
        tensors = {t.name: t for t in (*node.params, *node.buffers)}
        pos = node.attr_pos.get("weights", node.pos)
        for name, values in given.items():
            tensor = tensors.get(name)
            if tensor is None:
                names = ", ".join(tensors) or "none"
                errors.add(pos, f"weights '{name}': the layer has no parameter of that name (its parameters: "
                           f"{names})", node.name, node.op, f"give {names}" if tensors else "remove 'weights'")
                continue
            shape = array_shape(values)
            if tuple(shape) != tuple(tensor.shape):
                errors.add(pos, f"weights '{name}' has shape {fmt_shape(shape) if shape else 'scalar'} but the "
                           f"layer's {name} is {fmt_shape(tensor.shape)}", node.name, node.op,
                           f"give {_describe(tensor.shape)}")
    if node.attrs.get("trainable") is False:
        for tensor in node.params:
            tensor.trainable = False
    if node.attrs.get("binary"):
        for tensor in node.params:
            if tensor.name == "weight":
                tensor.clip, tensor.bits = BINARY_CLIP, 1


def _describe(shape) -> str:
    """'1 row of 2 values' / '3 values' / an N-d shape."""
    if len(shape) == 1:
        return f"{shape[0]} value{'s' if shape[0] != 1 else ''}"
    if len(shape) == 2:
        return f"{shape[0]} row{'s' if shape[0] != 1 else ''} of {shape[1]} value{'s' if shape[1] != 1 else ''}"
    return f"a nested list of shape {fmt_shape(shape)}"
