"""Fully connected layers."""
from netspec.errors import fmt_shape

from ..dims import numel
from ..registry import REQUIRED, Attr, LayerType, ShapeError, register
from .common import ACTIVATION_ATTR, BIAS_ATTR, BINARY_ATTR, INIT_ATTR, STE, binary_label, weight_and_bias


def _infer(node, in_shapes):
    (shape,) = in_shapes
    if len(shape) > 2 and node.attrs["strict"]:
        raise ShapeError(f"expects a vector per sample (or a sequence T x features), found "
                         f"{fmt_shape(shape)}", "add a 'flatten' layer before it (or 'strict: false' to apply it "
                                                "to the last axis, as nn.Linear does)")
    if not isinstance(shape[-1], int):
        raise ShapeError(f"the feature dim (the last axis) must be fixed, found {shape[-1]}")
    return (*shape[:-1], node.attrs["units"])


def _params(node, in_shapes):
    units = node.attrs["units"]
    return weight_and_bias(node, (units, in_shapes[0][-1]), (units,) if node.attrs["bias"] else None)


def _flops(node, in_shapes, out_shape):
    return numel(in_shapes[0]) * node.attrs["units"]


register(LayerType(
    "linear", "dense", aliases=("dense", "fc", "affine"),
    attrs=[Attr("units", "int", REQUIRED, min=1, aliases=("out_features", "outputs"), doc="output features"),
           BIAS_ATTR, ACTIVATION_ATTR, INIT_ATTR, BINARY_ATTR,
           Attr("strict", "bool", True, doc="refuse inputs of rank 3 or more (false: act on the last axis, as "
                                               "nn.Linear; the usual mistake is a missing flatten)")],
    infer=_infer, params=_params, flops=_flops,
    examples=({"attrs": {"units": 3}, "inputs": [[5]]},
              {"attrs": {"units": 4, "bias": False, "activation": {"type": "leaky_relu", "slope": 0.2}},
               "inputs": [[3, 5]]},
              {"attrs": {"units": 3, "activation": "relu"}, "inputs": [[4]]},
              {"attrs": {"units": 3, "strict": False}, "inputs": [[2, 2, 4]]},
              {"attrs": {"units": 3, "activation": {"type": "gelu", "approximate": "tanh"}}, "inputs": [[4]]},
              {"attrs": {"units": 3, "binary": True}, "inputs": [[5]], "finite_differences": STE},
              {"attrs": {"units": 4, "binary": "xnor", "bias": False}, "inputs": [[6]], "finite_differences": STE}),
    label=lambda node: f"linear {node.attrs['units']}" + ("" if node.attrs["bias"] else " no bias") +
    binary_label(node),
    doc="y = x W^T + b over the last axis"))
