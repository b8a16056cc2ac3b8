"""Regularisation and normalisation: dropout, batchnorm, layernorm, groupnorm, instancenorm, local response norm."""
from netspec.errors import fmt_shape

from ..registry import COUNTER, ONES, REQUIRED, ZEROS, Attr, LayerType, ShapeError, register
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


def _layernorm_shape(node, in_shapes):
    (shape,) = in_shapes
    dims = node.attrs["dims"]
    if dims > len(shape):
        raise ShapeError(f"dims={dims} is more than the input's {len(shape)} axes ({fmt_shape(shape)})",
                         f"use dims from 1 to {len(shape)}")
    normalized = shape[len(shape) - dims:]
    if any(not isinstance(d, int) for d in normalized):
        raise ShapeError(f"the normalised axes {fmt_shape(normalized)} must be fixed, not symbolic")
    return shape


def _layernorm_params(node, in_shapes):
    shape = tuple(in_shapes[0][len(in_shapes[0]) - node.attrs["dims"]:])
    return [("weight", shape, ONES), ("bias", shape, ZEROS)] if node.attrs["affine"] else []


register(LayerType("layernorm", "normalisation", infer=_layernorm_shape, params=_layernorm_params,
                   flops=elementwise_flops, aliases=("layer_norm", "ln"),
                   attrs=[Attr("dims", "int", 1, min=1, doc="normalise over the last `dims` per-sample axes"),
                          Attr("eps", "float", 1e-5, min=0.0), Attr("affine", "bool", True)],
                   label=lambda node: "layernorm" + (f" last {node.attrs['dims']}" if node.attrs["dims"] != 1 else ""),
                   examples=({"inputs": [[3, 4]]}, {"attrs": {"dims": 2, "affine": False}, "inputs": [[2, 3, 4]]},
                             {"attrs": {"dims": 2}, "inputs": [[2, 3]]}),
                   doc="layer normalisation over the last axes (nn.LayerNorm)"))


def _channels_fixed(node, in_shapes):
    (shape,) = in_shapes
    if node.op == "groupnorm":        # nn.GroupNorm takes (N, C, *): features alone too
        need_rank(node, shape, (1, 2, 3, 4), "features or channels x spatial axes")
    else:                             # nn.InstanceNorm1d/2d/3d: a channel needs positions to normalise over
        need_rank(node, shape, (2, 3, 4), "channels x length, channels x height x width or channels x D x H x W",
                  "a per-sample vector has one value per channel: use layernorm, or a 'reshape' to [C, L]")
    if not isinstance(shape[0], int):
        raise ShapeError(f"the channel dim must be fixed, found {shape[0]}")
    if node.op == "groupnorm" and shape[0] % node.attrs["groups"]:
        raise ShapeError(f"groups={node.attrs['groups']} must divide the {shape[0]} channels",
                         f"use groups from {[g for g in range(1, shape[0] + 1) if shape[0] % g == 0][:8]}")
    return shape


def _channel_affine(node, in_shapes):
    channels = in_shapes[0][0]
    return [("weight", (channels,), ONES), ("bias", (channels,), ZEROS)] if node.attrs["affine"] else []


register(LayerType("groupnorm", "normalisation", infer=_channels_fixed, params=_channel_affine,
                   flops=elementwise_flops, aliases=("group_norm", "gn"),
                   attrs=[Attr("groups", "int", REQUIRED, min=1, aliases=("num_groups",)),
                          Attr("eps", "float", 1e-5, min=0.0), Attr("affine", "bool", True)],
                   label=lambda node: f"groupnorm {node.attrs['groups']}",
                   examples=({"attrs": {"groups": 2}, "inputs": [[4, 3, 3]]},
                             {"attrs": {"groups": 3, "affine": False}, "inputs": [[6, 5]]},
                             {"attrs": {"groups": 2, "eps": 0.01}, "inputs": [[6]]}),
                   doc="group normalisation: channels in groups, each normalised per sample (nn.GroupNorm)"))
register(LayerType("instancenorm", "normalisation", infer=_channels_fixed, params=_channel_affine,
                   flops=elementwise_flops, aliases=("instance_norm", "instancenorm2d", "instancenorm1d"),
                   attrs=[Attr("eps", "float", 1e-5, min=0.0),
                          Attr("affine", "bool", False, doc="learn a scale and shift per channel (PyTorch: off)")],
                   examples=({"inputs": [[3, 4, 4]]}, {"attrs": {"affine": True}, "inputs": [[2, 5]]},
                             {"attrs": {"affine": True, "eps": 0.001}, "inputs": [[2, 2, 3, 3]]}),
                   doc="each channel of each sample normalised over its spatial axes (nn.InstanceNorm without "
                       "running statistics)"))
