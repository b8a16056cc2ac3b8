"""Shape layers: flatten, reshape, transpose, slice, split, pad, upsample, pixel_shuffle."""
from __future__ import annotations

from compiler.layers.shape import pad_widths

from . import TORCH, Lowering
from .common import call, number, simple, spatial


@TORCH.layer("flatten")
def flatten(node):
    return Lowering(simple(lambda ref, args: f"torch.flatten({args[0]}, 1)"))


@TORCH.layer("reshape")
def reshape(node):
    dims = ", ".join(str(d) for d in node.shape)
    return Lowering(simple(lambda ref, args: f"{args[0]}.reshape(-1, {dims})"))


def _dim(node) -> int:
    """The node's `axis` attr as a dim of the batched tensor."""
    return node.attrs["axis"] % len(node.in_shapes[0]) + 1


@TORCH.layer("transpose")
def transpose(node):
    rank = len(node.in_shapes[0])
    dims = ", ".join(str(a % rank + 1) for a in node.attrs["perm"])
    return Lowering(simple(lambda ref, args: f"{args[0]}.permute(0, {dims})"))


@TORCH.layer("slice")
def slice_(node):
    a = node.attrs
    text = (f"{a['start'] or ''}:{'' if a['stop'] is None else a['stop']}"
            + (f":{a['step']}" if a["step"] != 1 else ""))
    index = ", ".join([":"] * _dim(node) + [text])
    return Lowering(simple(lambda ref, args: f"{args[0]}[{index}]"))


@TORCH.layer("split")
def split(node):
    a = node.attrs
    if a["sizes"]:
        expr = f"torch.split({{x}}, {list(a['sizes'])}, dim={_dim(node)})[{a['index']}]"
    else:
        expr = f"torch.chunk({{x}}, {a['parts']}, dim={_dim(node)})[{a['index']}]"
    return Lowering(simple(lambda ref, args: expr.format(x=args[0])))


@TORCH.layer("pad")
def pad(node):
    a = node.attrs
    widths = [w for pair in reversed(pad_widths(node, len(node.in_shapes[0]))) for w in pair]   # last axis first
    mode = None if a["mode"] == "constant" else f'"{a["mode"]}"'
    value = number(a["value"]) if a["mode"] == "constant" and a["value"] != 0 else None
    return Lowering(simple(lambda ref, args: call("F.pad", args[0], tuple(widths), mode=mode, value=value)))


@TORCH.layer("upsample")
def upsample(node):
    a = node.attrs
    size = {"size": spatial(a["size"])} if a["size"] else {"scale_factor": spatial(a["scale"])}
    options = {"mode": '"bilinear"', "align_corners": a["align_corners"]} if a["mode"] == "bilinear" else {}
    return Lowering(simple(lambda ref, args: call("F.interpolate", args[0], **size, **options)))


@TORCH.layer("pixel_shuffle")
def pixel_shuffle(node):
    return Lowering(simple(lambda ref, args: f"F.pixel_shuffle({args[0]}, {node.attrs['factor']})"))
