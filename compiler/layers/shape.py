"""Shape layers: flatten, reshape, transpose, slice, split, pad, upsample and pixel_shuffle."""
from netspec.errors import fmt_shape

from ..dims import Sym, numel
from ..registry import REQUIRED, Attr, AttrError, LayerType, ShapeError, register
from .common import need_rank


def _flatten_infer(node, in_shapes):
    (shape,) = in_shapes
    if any(isinstance(d, Sym) for d in shape):
        raise ShapeError(f"cannot flatten {fmt_shape(shape)}: it has a symbolic dim",
                         "pool or take the last step of the sequence first")
    return (numel(shape),)


register(LayerType("flatten", "shape", infer=_flatten_infer, examples=({"inputs": [[2, 3, 4]]},), doc="all per-sample dims into one"))


def _reshape_infer(node, in_shapes):
    (shape,) = in_shapes
    target = list(node.attrs["shape"])
    if any(isinstance(d, Sym) for d in shape):
        raise ShapeError(f"cannot reshape {fmt_shape(shape)}: it has a symbolic dim")
    if target.count(-1) > 1:
        raise ShapeError(f"at most one -1 is allowed in shape {target}")
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"shape {target} has a dim that is neither positive nor -1")
    total, known = numel(shape), numel([d for d in target if d != -1])
    if -1 in target:
        if total % known:
            raise ShapeError(f"cannot reshape {fmt_shape(shape)} ({total} values) to {target}: "
                             f"{total} is not divisible by {known}")
        target[target.index(-1)] = total // known
    if numel(target) != total:
        raise ShapeError(f"cannot reshape {fmt_shape(shape)} ({total} values) to "
                         f"{fmt_shape(target)} ({numel(target)} values)",
                         "the element counts must match; use -1 for one dim to infer it")
    return tuple(target)


register(LayerType("reshape", "shape", infer=_reshape_infer,
                   examples=({"attrs": {"shape": [3, -1]}, "inputs": [[2, 6]]},), label=lambda node: f"reshape {fmt_shape(node.attrs['shape'])}",
                   attrs=[Attr("shape", "ints", REQUIRED, min=-1, aliases=("target", "dims"))],
                   doc="reshape per-sample dims (one dim may be -1)"))


def _axis(node, axis: int, rank: int, what: str = "axis") -> int:
    """A per-sample axis, negatives counted from the end; ShapeError when out of range."""
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for an input of rank {rank}",
                         f"axes count per-sample dims, channels first: use 0 to {rank - 1} (or -{rank} to -1)")
    return axis % rank


def _transpose_infer(node, in_shapes):
    (shape,) = in_shapes
    perm = node.attrs["perm"]
    if sorted(a % len(shape) if -len(shape) <= a < len(shape) else a for a in perm) != list(range(len(shape))):
        raise ShapeError(f"perm {list(perm)} is not an ordering of the input's axes 0..{len(shape) - 1} "
                         f"(input {fmt_shape(shape)})", f"e.g. perm: {list(range(len(shape)))[::-1]}")
    return tuple(shape[a] for a in perm)


register(LayerType("transpose", "shape", infer=_transpose_infer, aliases=("permute",),
                   attrs=[Attr("perm", "ints", REQUIRED, aliases=("dims", "axes"),
                               doc="the new order of the per-sample axes")],
                   label=lambda node: f"transpose {list(node.attrs['perm'])}",
                   examples=({"attrs": {"perm": [1, 0]}, "inputs": [[2, 3]]},
                             {"attrs": {"perm": [2, 0, 1]}, "inputs": [[2, 3, 4]]}),
                   doc="reorder per-sample axes (batch stays first)"))


def slice_bounds(size: int, start: int, stop, step: int) -> tuple:
    """Python's slice(start, stop, step).indices(size) with step > 0: (start, stop, count)."""
    lo, hi, _ = slice(start, stop, step).indices(size)
    return lo, hi, max(0, -(-(hi - lo) // step))


def _slice_infer(node, in_shapes):
    (shape,) = in_shapes
    a = node.attrs
    axis = _axis(node, a["axis"], len(shape))
    if not isinstance(shape[axis], int):
        raise ShapeError(f"cannot slice the symbolic dim {shape[axis]} (axis {axis})")
    count = slice_bounds(shape[axis], a["start"], a["stop"], a["step"])[2]
    if count <= 0:
        raise ShapeError(f"slice {a['start']}:{'' if a['stop'] is None else a['stop']}:{a['step']} of axis {axis} "
                         f"(size {shape[axis]}) is empty", f"choose start and stop within 0..{shape[axis]}")
    out = list(shape)
    out[axis] = count
    return tuple(out)


register(LayerType("slice", "shape", infer=_slice_infer, aliases=("narrow",),
                   attrs=[Attr("axis", "int", 0, aliases=("dim",)), Attr("start", "int", 0),
                          Attr("stop", "int", None, aliases=("end",), doc="default: the end"),
                          Attr("step", "int", 1, min=1)],
                   label=lambda node: (f"slice axis {node.attrs['axis']} [{node.attrs['start']}:"
                                       f"{'' if node.attrs['stop'] is None else node.attrs['stop']}"
                                       + (f":{node.attrs['step']}" if node.attrs["step"] != 1 else "") + "]"),
                   examples=({"attrs": {"axis": 0, "start": 1, "stop": 3}, "inputs": [[4, 3]]},
                             {"attrs": {"axis": -1, "start": -4, "step": 2}, "inputs": [[2, 3, 5]]}),
                   doc="a strided range of one per-sample axis, as x[start:stop:step]"))


def split_sizes(node, size) -> list:
    """The part sizes of a split along an axis of `size`: `sizes` as given, or `parts` equal parts."""
    a = node.attrs
    if a["sizes"]:
        if sum(a["sizes"]) != size:
            raise ShapeError(f"sizes {list(a['sizes'])} add up to {sum(a['sizes'])}, but axis {a['axis']} has {size}",
                             "make the sizes add up to the axis length")
        return list(a["sizes"])
    if size % a["parts"]:
        raise ShapeError(f"axis {a['axis']} of size {size} does not split into {a['parts']} equal parts",
                         "give 'sizes:' explicitly, or a number of parts that divides the axis")
    return [size // a["parts"]] * a["parts"]


def _split_normalize(attrs) -> None:
    if attrs["sizes"] is None and attrs["parts"] is None:
        attrs["parts"] = 2


def _split_infer(node, in_shapes):
    (shape,) = in_shapes
    a = node.attrs
    if a["sizes"] is not None and a["parts"] is not None:
        raise ShapeError("give either 'sizes' or 'parts', not both")
    axis = _axis(node, a["axis"], len(shape))
    if not isinstance(shape[axis], int):
        raise ShapeError(f"cannot split the symbolic dim {shape[axis]} (axis {axis})")
    sizes = split_sizes(node, shape[axis])
    if not 0 <= a["index"] < len(sizes):
        raise ShapeError(f"part {a['index']} does not exist: the split has {len(sizes)} parts")
    out = list(shape)
    out[axis] = sizes[a["index"]]
    return tuple(out)


register(LayerType("split", "shape", infer=_split_infer, normalize=_split_normalize, aliases=("chunk",),
                   attrs=[Attr("axis", "int", 0, aliases=("dim",)),
                          Attr("sizes", "ints", None, min=1, doc="the parts' sizes (they add up to the axis)"),
                          Attr("parts", "int", None, min=1, aliases=("chunks",), doc="this many equal parts"),
                          Attr("index", "int", 0, min=0, doc="the part this node yields; in 'from', address the parts "
                                                             "as name.0, name.1, ... instead")],
                   label=lambda node: f"split axis {node.attrs['axis']} .{node.attrs['index']}",
                   examples=({"attrs": {"axis": 0, "parts": 2}, "inputs": [[4, 3]], "output": "under_test.1"},
                             {"attrs": {"axis": -1, "sizes": [1, 3]}, "inputs": [[2, 4]], "output": "under_test.0"},
                             {"attrs": {"axis": 1, "parts": 3}, "inputs": [[2, 6, 2]], "output": "under_test.2"}),
                   doc="cut an axis into parts; its outputs are name.0, name.1, ..."))


def _pad_normalize(attrs) -> None:
    pad = attrs["pad"]
    attrs["pad"] = pad if isinstance(pad, (int, str)) else tuple(tuple(p) for p in pad)


def pad_widths(node, rank: int) -> list:
    """[(before, after)] for each spatial axis (every per-sample axis after the channels)."""
    pad, spatial = node.attrs["pad"], max(rank - 1, 1)
    if isinstance(pad, int):
        return [(pad, pad)] * spatial
    if len(pad) != spatial:
        raise ShapeError(f"'pad' lists {len(pad)} axes, but the input has {spatial} spatial axis/axes",
                         f"give [[before, after]] for each of the {spatial} axes after the channels, or one int")
    return [tuple(p) for p in pad]


def _pad_infer(node, in_shapes):
    (shape,) = in_shapes
    widths = pad_widths(node, len(shape))
    if node.attrs["mode"] != "constant" and len(widths) > 3:
        raise ShapeError(f"{node.attrs['mode']} padding covers at most 3 spatial axes (as F.pad), "
                         f"the input {fmt_shape(shape)} has {len(widths)}", "use mode: constant")
    first = len(shape) - len(widths)
    out = list(shape)
    for axis, (before, after) in enumerate(widths, start=first):
        size = shape[axis]
        if node.attrs["mode"] == "reflect" and isinstance(size, int) and max(before, after) >= size:
            raise ShapeError(f"reflect padding {max(before, after)} must be smaller than axis {axis} ({size})",
                             "use 'replicate' or a smaller pad")
        out[axis] = size + before + after
    return tuple(out)


def _fmt_pad(pad) -> str:
    """1 -> '1'; ((1, 0), (2, 2)) -> '[[1, 0], [2, 2]]' (as written in a spec)."""
    return str(pad if isinstance(pad, int) else [list(p) for p in pad])


class _PadAttr(Attr):
    """'pad': one int for every side, or [[before, after], ...] per spatial axis in order."""

    def coerce(self, value, spatial_rank: int = 1):
        if isinstance(value, list):
            if not value or not all(isinstance(p, list) and len(p) == 2 for p in value):
                raise AttrError(f"'{self.name}' must be an int or a list of [before, after] pairs, found {value!r}",
                                "e.g. pad: 1, or pad: [[0, 1], [0, 1]] for height and width")
            return tuple(tuple(Attr(self.name, "int", min=0).coerce(v) for v in pair) for pair in value)
        return Attr(self.name, "int", min=0).coerce(value)


register(LayerType("pad", "shape", infer=_pad_infer, normalize=_pad_normalize, aliases=("padding",),
                   attrs=[_PadAttr("pad", "pad", REQUIRED, aliases=("width", "amount")),
                          Attr("mode", "choice", "constant", choices=("constant", "reflect", "replicate")),
                          Attr("value", "float", 0.0, doc="the fill of constant padding")],
                   label=lambda node: f"pad {_fmt_pad(node.attrs['pad'])}" + (
                       f" {node.attrs['mode']}" if node.attrs["mode"] != "constant" else ""),
                   examples=({"attrs": {"pad": 1}, "inputs": [[2, 4, 4]]},
                             {"attrs": {"pad": [[1, 2]], "mode": "reflect"}, "inputs": [[2, 5]]},
                             {"attrs": {"pad": [[0, 1], [2, 0]], "mode": "replicate"}, "inputs": [[1, 3, 3]]},
                             {"attrs": {"pad": [[1, 0]], "value": 0.5}, "inputs": [[2, 3]]},
                             {"attrs": {"pad": 1, "mode": "reflect"}, "inputs": [[1, 2, 3, 3]]}),
                   doc="pad the spatial axes (constant, reflect or replicate), as F.pad"))


def _upsample_infer(node, in_shapes):
    (shape,) = in_shapes
    a = node.attrs
    need_rank(node, shape, (2, 3), "channels x length or channels x height x width")
    spatial = len(shape) - 1
    if (a["scale"] is None) == (a["size"] is None):
        raise ShapeError("give either 'scale' or 'size'", "e.g. scale: 2")
    if a["mode"] == "bilinear" and spatial != 2:
        raise ShapeError("bilinear upsampling needs channels x height x width", "use mode: nearest")
    if a["size"] is not None:
        if len(a["size"]) not in (1, spatial):
            raise ShapeError(f"'size' needs {spatial} value(s), found {len(a['size'])}")
        size = a["size"] * spatial if len(a["size"]) == 1 else a["size"]
        return (shape[0], *size)
    if len(a["scale"]) not in (1, spatial):
        raise ShapeError(f"'scale' needs {spatial} value(s), found {len(a['scale'])}")
    scale = a["scale"] * spatial if len(a["scale"]) == 1 else a["scale"]
    return (shape[0], *(d * s for d, s in zip(shape[1:], scale)))


register(LayerType("upsample", "shape", infer=_upsample_infer, aliases=("interpolate", "upsampling"),
                   attrs=[Attr("scale", "ints", None, min=1, aliases=("scale_factor",), doc="integer factor(s)"),
                          Attr("size", "ints", None, min=1, doc="the output's spatial size"),
                          Attr("mode", "choice", "nearest", choices=("nearest", "bilinear")),
                          Attr("align_corners", "bool", False, doc="bilinear only, as in PyTorch")],
                   flops=lambda node, ins, out: numel(out) * (4 if node.attrs["mode"] == "bilinear" else 0),
                   label=lambda node: f"upsample {node.attrs['mode']} " + (
                       f"x{fmt_shape(node.attrs['scale'])}" if node.attrs["scale"] else fmt_shape(node.attrs["size"])),
                   examples=({"attrs": {"scale": 2}, "inputs": [[2, 3, 3]]},
                             {"attrs": {"size": [5, 4], "mode": "bilinear"}, "inputs": [[2, 3, 3]]},
                             {"attrs": {"scale": 2, "mode": "bilinear", "align_corners": True}, "inputs": [[1, 2, 3]]},
                             {"attrs": {"size": 7}, "inputs": [[2, 3]]},
                             {"attrs": {"scale": [2, 3]}, "inputs": [[1, 2, 2]]},
                             {"attrs": {"scale": 3}, "inputs": [[2, 4]]}),
                   doc="resize the spatial axes (nearest or bilinear), as F.interpolate"))


def _pixel_shuffle_infer(node, in_shapes):
    (shape,) = in_shapes
    need_rank(node, shape, (3,), "channels x height x width")
    r = node.attrs["factor"]
    if shape[0] % (r * r):
        raise ShapeError(f"channels ({shape[0]}) must be divisible by factor^2 = {r * r}",
                         f"give the conv before it a multiple of {r * r} filters")
    return (shape[0] // (r * r), shape[1] * r, shape[2] * r)


register(LayerType("pixel_shuffle", "shape", infer=_pixel_shuffle_infer, aliases=("depth_to_space",),
                   attrs=[Attr("factor", "int", REQUIRED, min=1, aliases=("upscale_factor", "scale"))],
                   label=lambda node: f"pixel_shuffle x{node.attrs['factor']}",
                   examples=({"attrs": {"factor": 2}, "inputs": [[8, 2, 3]]},),
                   doc="(C r^2) x H x W -> C x (H r) x (W r), as nn.PixelShuffle"))
