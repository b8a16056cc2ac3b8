"""Shape and dtype inference: shapes on every edge, parameters, FLOPs and memory per node."""
from __future__ import annotations

from itertools import starmap
from operator import attrgetter

from netspec.errors import Collector, fmt_shape

from . import fixed, registry
from .dims import Sym, numel
from .ir import Graph, TensorSpec
from .registry import ShapeError

MAX_ELEMENTS = 2 ** 34      # per sample, per tensor
MAX_PARAMS = 2 ** 36
ITEM_BYTES = {"float32": 4, "float64": 8, "int64": 8, "int32": 4}
_shape = attrgetter("shape")


def infer(graph: Graph, errors: Collector, broken: set | None = None) -> Graph:
    """Fill shape, dtype, params, buffers, FLOPs and memory on every node; report shape faults."""
    broken = set() if broken is None else broken
    total_params = 0
    known: dict = {}          # (op, attrs, input shapes, dtype) -> what inference made of it: big specs repeat layers
    fixing: list = []         # nodes with given weights, or parameters to freeze or clip: fixed.apply
    types: dict = {}
    nodes = graph.nodes
    for node in graph:
        inputs = node.inputs
        layer_type = types.get(node.op) or types.setdefault(node.op, registry.lookup(node.op))
        # an input that is missing or broken breaks this node too (map: no Python frame per input)
        if node.name in broken or not broken.isdisjoint(inputs) or not all(map(nodes.__contains__, inputs)):
            broken.add(node.name)
            continue
        in_nodes = list(map(nodes.__getitem__, inputs))
        node.in_shapes = list(map(_shape, in_nodes))
        if in_nodes:
            dtype = in_nodes[0].dtype
            if dtype not in layer_type.input_dtypes:
                _dtype_fault(node, layer_type, dtype, errors)
                broken.add(node.name)
                continue
            node.dtype = layer_type.output_dtype or dtype
        key, made = _recall(node, layer_type, known)
        if made is not None:
            node.shape, params, buffers, node.flops, node.memory, count, fixes = made
            node.params = list(starmap(TensorSpec, params))
            node.buffers = list(starmap(TensorSpec, buffers)) if buffers else []
            total_params += count
            if total_params <= MAX_PARAMS:
                if fixes:
                    fixing.append(node)
                continue
        try:
            if layer_type.link:
                layer_type.link(node, graph)
            shape = tuple(layer_type.infer(node, node.in_shapes))
            _check_size(shape)
            node.shape = shape
            node.params = [TensorSpec(n, tuple(s), True, i) for n, s, i in layer_type.params(node, node.in_shapes)]
            node.buffers = [TensorSpec(n, tuple(s), False, i)
                            for n, s, i in layer_type.buffers(node, node.in_shapes)]
            if made is None:
                total_params += node.param_count
            if total_params > MAX_PARAMS:
                raise ShapeError(f"the network has more than {MAX_PARAMS:,} parameters ({total_params:,} so far)",
                                 "check the sizes: a dimension is far larger than intended")
        except ShapeError as exc:
            errors.add(node.pos, str(exc) + block_note(node), node.name if node.op != "input" else None,
                       node.op, exc.hint)
            broken.add(node.name)
            node.shape = None
            continue
        node.flops = int(layer_type.flops(node, node.in_shapes, shape))
        node.memory = numel(shape) * ITEM_BYTES.get(node.dtype, 4)
        fixes = node.op != "input" and fixed.wanted(node)
        if fixes:
            fixing.append(node)
        if key is not None:
            known[key] = (shape, [(t.name, t.shape, True, t.init) for t in node.params],
                          [(t.name, t.shape, False, t.init) for t in node.buffers], node.flops, node.memory,
                          node.param_count, fixes)
    for node in fixing:    # in graph order, after every shape is known
        fixed.apply(node, errors)
    for name in graph.outputs:
        if name not in graph.nodes and not name.startswith("!"):   # '!...': a faulty layer, already reported
            errors.add(None, f"output '{name}' is not a layer")
    return graph


def _recall(node, layer_type, known: dict) -> tuple:
    """(key, what inference made of an equal node before or None): the key holds what a node's inference
    depends on; None where that is not hashable (a link, an unhashable attr)."""
    if layer_type.link is not None or not node.in_shapes:
        return None, None
    key = (node.op, tuple(node.attrs.items()), tuple(node.in_shapes), node.dtype)
    try:
        return key, known.get(key)
    except TypeError:
        return None, None


def block_note(node) -> str:
    """' (in block 'basic' used at line 19)' for nodes inside a block instance."""
    if not node.scope or node.scope[-1].pos is None:
        return ""
    scope = node.scope[-1]
    return f" (in block '{scope.block}' used at line {scope.pos.line})"


def _check_size(shape) -> None:
    for dim in shape:
        if isinstance(dim, int) and dim <= 0:
            raise ShapeError(f"output shape {fmt_shape(shape)} has a non-positive dim")
    count = numel([d for d in shape if not isinstance(d, Sym)])
    if count > MAX_ELEMENTS:
        raise ShapeError(f"output {fmt_shape(shape)} has {count:,} values per sample, more than the "
                         f"{MAX_ELEMENTS:,} allowed", "check the sizes: a dimension is far larger than intended")


def _dtype_fault(node, layer_type, dtype, errors: Collector) -> None:
    if dtype.startswith("int"):
        message = f"expects float input, found {dtype} token ids from '{node.inputs[0]}'"
        hint = "add an 'embedding' layer before it"
    else:
        message = f"expects integer token ids, found {dtype} from '{node.inputs[0]}'"
        hint = "declare the input with 'dtype: int64'"
    errors.add(node.pos, message, node.name, layer_type.name, hint)
