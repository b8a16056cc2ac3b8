"""Restricted Boltzmann machines, the building block of DBNs, DBMs and deep autoencoders."""
from netspec.errors import fmt_shape

from ..registry import REQUIRED, Attr, LayerType, ShapeError, register

UNIT_TYPES = ("bernoulli", "gaussian")
HIDDEN_UNIT_TYPES = ("bernoulli", "gaussian", "relu")


def _infer(node, in_shapes):
    (shape,) = in_shapes
    if len(shape) != 1:
        raise ShapeError(f"expects a vector of visible units, found {fmt_shape(shape)}",
                         "add a 'flatten' layer before it")
    return (node.attrs["hidden"],)


def _params(node, in_shapes):
    hidden, visible = node.attrs["hidden"], in_shapes[0][0]
    return [("weight", (hidden, visible)), ("bias", (hidden,)), ("visible_bias", (visible,))]


register(LayerType(
    "rbm", "energy", infer=_infer, params=_params,
    flops=lambda node, ins, out: ins[0][0] * node.attrs["hidden"],
    attrs=[Attr("hidden", "int", REQUIRED, min=1, aliases=("units", "hidden_size")),
           Attr("visible_units", "choice", "bernoulli", choices=UNIT_TYPES, aliases=("visible",)),
           Attr("hidden_units", "choice", "bernoulli", choices=HIDDEN_UNIT_TYPES),
           # per-layer pretraining settings; unset ones come from the spec's `pretrain:` section
           Attr("method", "choice", None, choices=(None, "cd", "pcd")),
           Attr("k", "int", None, min=1, max=1000, doc="Gibbs steps per update"),
           Attr("persistent", "bool", None, doc="persistent CD (PCD)"),
           Attr("chains", "int", None, min=1, doc="persistent chains"),
           Attr("lr", "float", None, min=0.0),
           Attr("momentum", "floats", None, min=0.0, max=1.0, doc="one value, or [start, final]"),
           Attr("weight_decay", "float", None, min=0.0),
           Attr("sparsity", "prob", None, aliases=("sparsity_target",)),
           Attr("sparsity_cost", "float", None, min=0.0),
           Attr("init_scale", "float", None, min=0.0),
           Attr("epochs", "int", None, min=0),
           Attr("batch_size", "int", None, min=1),
           Attr("propagate", "choice", None, choices=(None, "mean", "sample"))],
    doc="restricted Boltzmann machine; acts as sigmoid(x W^T + b) when unrolled"))
