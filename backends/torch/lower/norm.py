"""Regularisation and normalisation: dropout, batchnorm, local response normalisation, layer/group/instance norm."""
from __future__ import annotations

from . import TORCH, Lowering
from .common import call, module_call, number, simple, unless


@TORCH.layer("dropout")
def dropout(node):
    return Lowering(simple(module_call), call("nn.Dropout", number(node.attrs["p"])))


@TORCH.layer("batchnorm")
def batchnorm(node):
    a = node.attrs
    kind = "nn.BatchNorm2d" if len(node.in_shapes[0]) == 3 else "nn.BatchNorm1d"
    module = call(kind, node.in_shapes[0][0], eps=unless(a["eps"], 1e-5), momentum=unless(a["momentum"], 0.1),
                  affine=None if a["affine"] else False)
    return Lowering(simple(module_call), module)


@TORCH.layer("lrn")
def lrn(node):
    a = node.attrs
    module = call("nn.LocalResponseNorm", a["size"], alpha=unless(a["alpha"], 1e-4), beta=unless(a["beta"], 0.75),
                  k=unless(a["k"], 1.0))
    return Lowering(simple(module_call), module)


@TORCH.layer("layernorm")
def layernorm(node):
    a = node.attrs
    shape = tuple(node.in_shapes[0][len(node.in_shapes[0]) - a["dims"]:])
    module = call("nn.LayerNorm", shape[0] if len(shape) == 1 else list(shape), eps=unless(a["eps"], 1e-5),
                  elementwise_affine=None if a["affine"] else False)
    return Lowering(simple(module_call), module)


@TORCH.layer("groupnorm")
def groupnorm(node):
    a = node.attrs
    module = call("nn.GroupNorm", a["groups"], node.in_shapes[0][0], eps=unless(a["eps"], 1e-5),
                  affine=None if a["affine"] else False)
    return Lowering(simple(module_call), module)


@TORCH.layer("instancenorm")
def instancenorm(node):
    a = node.attrs
    kind = f"nn.InstanceNorm{len(node.in_shapes[0]) - 1}d"        # C x L: 1d, C x H x W: 2d, C x D x H x W: 3d
    module = call(kind, node.in_shapes[0][0], eps=unless(a["eps"], 1e-5), affine=unless(a["affine"], False))
    return Lowering(simple(module_call), module)
