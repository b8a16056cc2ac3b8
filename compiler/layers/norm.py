"""Regularisation and normalisation: dropout, batchnorm, local response normalisation."""
from ..registry import COUNTER, ONES, ZEROS, Attr, LayerType, ShapeError, register
from .common import elementwise_flops, need_rank


def _same(node, in_shapes):
    return in_shapes[0]


register(LayerType("dropout", "regularisation", infer=_same, examples=({"attrs": {"p": 0.0}, "inputs": [[5]]},), label=lambda node: f"dropout p={node.attrs['p']:g}",
                   attrs=[Attr("p", "prob", 0.5, aliases=("rate",))], doc="zero values with probability p"))


def _bn_infer(node, in_shapes):
    (shape,) = in_shapes
    need_rank(node, shape, (1, 2, 3), "features, channels x length or channels x height x width")
    if not isinstance(shape[0], int):
        raise ShapeError(f"the channel dim must be fixed, found {shape[0]}")
    return shape


def _bn_params(node, in_shapes):
    channels = in_shapes[0][0]
    return [("weight", (channels,), ONES), ("bias", (channels,), ZEROS)] if node.attrs["affine"] else []


def _bn_buffers(node, in_shapes):
    channels = in_shapes[0][0]
    return [("running_mean", (channels,), ZEROS), ("running_var", (channels,), ONES),
            ("num_batches_tracked", (), COUNTER)]


register(LayerType("batchnorm", "normalisation", infer=_bn_infer,
                   examples=({"inputs": [[3, 4, 4]]}, {"inputs": [[5]]}, {"attrs": {"affine": False}, "inputs": [[2, 6]]}), params=_bn_params, buffers=_bn_buffers,
                   flops=elementwise_flops, aliases=("batch_norm", "bn"),
                   attrs=[Attr("eps", "float", 1e-5, min=0.0), Attr("momentum", "float", 0.1, min=0.0, max=1.0),
                          Attr("affine", "bool", True)],
                   doc="batch normalisation over the channel axis (axis 0)"))


def _lrn_infer(node, in_shapes):
    (shape,) = in_shapes
    need_rank(node, shape, (2, 3), "channels x length or channels x height x width")
    return shape


register(LayerType("lrn", "normalisation", infer=_lrn_infer, aliases=("local_response_norm",),
                   examples=({"attrs": {"size": 3}, "inputs": [[5, 3, 3]]},),
                   label=lambda node: f"lrn size {node.attrs['size']}",
                   flops=lambda node, ins, out: elementwise_flops(node, ins, out) * node.attrs["size"],
                   attrs=[Attr("size", "int", 5, min=1), Attr("alpha", "float", 1e-4, min=0.0),
                          Attr("beta", "float", 0.75, min=0.0), Attr("k", "float", 1.0, min=0.0)],
                   doc="local response normalisation across channels (AlexNet)"))
