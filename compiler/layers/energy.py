"""Restricted Boltzmann machines, the building block of DBNs, DBMs and deep autoencoders."""
from netspec.errors import did_you_mean, fmt_shape

from ..registry import REQUIRED, ZEROS, Attr, LayerType, ShapeError, normal, register

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
    return [("weight", (hidden, visible), normal(node.attrs["init_scale"] or 0.01)), ("bias", (hidden,), ZEROS),
            ("visible_bias", (visible,), ZEROS)]


register(LayerType(
    "rbm", "energy", infer=_infer, params=_params, label=lambda node: f"rbm {node.attrs['hidden']}",
    examples=({"attrs": {"hidden": 3}, "inputs": [[5]]}, {"attrs": {"hidden": 4, "hidden_units": "relu"}, "inputs": [[3]]}),
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


def _resolve_tied(node, graph):
    """Find the rbm a `tied` layer borrows its weight from; fill units and the default activation."""
    ref = node.attrs["of"]
    scope = node.name.rsplit("/", 1)[0] + "/" if "/" in node.name else ""
    target = graph.nodes.get(scope + ref) or graph.nodes.get(ref)
    if target is None:
        rbms = [n.name for n in graph if n.op == "rbm"]
        raise ShapeError(f"'of' names layer '{ref}', which does not exist",
                         did_you_mean(ref, rbms) or (f"rbm layers: {', '.join(rbms)}" if rbms else
                                                     "add the rbm layer whose weight this decoder transposes"))
    if target.op != "rbm":
        raise ShapeError(f"'of' must name an rbm layer, found '{target.name}' ({target.op})")
    if target.shape is None or not target.in_shapes:
        raise ShapeError(f"rbm '{target.name}' must come before this decoder layer")
    hidden = target.attrs["hidden"]
    if node.in_shapes and tuple(node.in_shapes[0]) != (hidden,):
        raise ShapeError(f"input is {fmt_shape(node.in_shapes[0])} but rbm '{target.name}' has {hidden} hidden units",
                         f"feed it the output of the layer above '{target.name}' in the encoder")
    node.attrs["of"] = target.name
    visible = target.in_shapes[0][0]
    if node.attrs.get("units") is not None and node.attrs["units"] != visible:
        raise ShapeError(f"'units' is {node.attrs['units']} but rbm '{target.name}' has {visible} visible units",
                         "drop 'units'; it follows from 'of'")
    node.attrs["units"] = visible
    if node.attrs.get("activation") is None:
        node.attrs["activation"] = "sigmoid" if target.attrs["visible_units"] == "bernoulli" else None


def _tied_infer(node, in_shapes):
    (shape,) = in_shapes
    if len(shape) != 1:
        raise ShapeError(f"expects a vector of hidden units, found {fmt_shape(shape)}")
    return (node.attrs["units"],)


register(LayerType(
    "tied", "energy", aliases=("tied_decoder", "rbm_decoder"), infer=_tied_infer, link=_resolve_tied,
    label=lambda node: f"tied W^T of {node.attrs['of']}",
    examples=({"attrs": {"of": "encoder"}, "inputs": [[5]], "before": [{"type": "rbm", "name": "encoder", "hidden": 3}]},),
    params=lambda node, ins: [("bias", (node.attrs["units"],), ZEROS)],
    flops=lambda node, ins, out: ins[0][0] * out[0],
    attrs=[Attr("of", "str", REQUIRED, aliases=("tied", "rbm"), doc="the rbm layer whose weight is transposed"),
           Attr("units", "int", None, min=1, doc="visible units (follows from 'of')"),
           Attr("activation", "activation", None,
                doc="default: sigmoid for bernoulli visible units, none for gaussian")],
    doc="decoder of an unrolled autoencoder: x W + visible bias with W borrowed from rbm 'of' (tied weights); "
        "its own parameter is the bias, initialised from that rbm's visible_bias"))
