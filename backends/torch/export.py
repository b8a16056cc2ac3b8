"""ONNX export of a generated model through torch.onnx (opens in Netron, runs in any ONNX runtime).

The batch dimension and every symbolic spec dimension (e.g. a sequence length T) stay dynamic. The model is
generated for export with `scan_loops()`: a recurrent cell over a symbolic length becomes an ONNX `Scan`
(torch's scan op, which the dynamo exporter lowers), over a fixed length its loop unrolls.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings

from netspec.errors import UserError

from .emit_train import token_range


def example_inputs(graph, batch: int = 2, bindings: dict | None = None):
    """Random inputs for the graph: (tuple of tensors, {input name: {axis: symbol name}})."""
    import torch

    from compiler.dims import Sym
    generator = torch.Generator().manual_seed(0)
    tensors, dynamic = [], {}
    for name in graph.inputs:
        node = graph[name]
        shape = [d if isinstance(d, int) else d.value(bindings or {}) for d in node.shape]
        shape = [max(s, 3) if isinstance(d, Sym) else s for s, d in zip(shape, node.shape)]
        if node.dtype.startswith("int"):
            high = _token_range(graph, name)
            tensors.append(torch.randint(0, high, (batch, *shape), generator=generator))
        else:
            tensors.append(torch.randn(batch, *shape, generator=generator))
        dynamic[name] = {0: "batch", **{i + 1: str(d) for i, d in enumerate(node.shape) if isinstance(d, Sym)}}
    return tuple(tensors), dynamic


def _token_range(graph, input_name: str) -> int:
    """The smallest vocabulary among the embeddings that read an int input (2 when none does)."""
    return token_range(graph, input_name) or 2


def export_onnx(graph, path: str, checkpoint: str | None = None, opset: int | None = None) -> None:
    """Write graph's generated model to `path` as ONNX, atomically."""
    import torch

    from backends.checkpoint import atomic_write

    from . import generate, load_module
    from .lower.cell import scan_loops
    with scan_loops():
        module = load_module(graph, generate(graph, format_code=False))
    model = module.build_model()
    if checkpoint:
        module.load_weights(model, checkpoint)
    model.eval()
    args, dynamic = example_inputs(graph)
    names = list(graph.inputs)
    if len(names) == 1 and names[0] == "input":
        dynamic = {"x": dynamic["input"]}
    symbols = {}
    shapes = {}
    for arg, axes in dynamic.items():
        shapes[arg] = {axis: symbols.setdefault(sym, torch.export.Dim(_dim_name(sym), min=2 if sym == "batch" else 1))
                       for axis, sym in axes.items()}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), _quiet_logs():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, args, dynamic_shapes=shapes, input_names=names,
                                        output_names=list(graph.outputs), opset_version=opset, dynamo=True,
                                        verbose=False)
    except ImportError as exc:
        raise UserError(f"ONNX export needs the onnx and onnxscript packages ({exc})",
                        "pip install onnx onnxscript") from None
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    program.save(buffer)
    data = _dynamic_outputs(graph, buffer.getvalue())
    atomic_write(path, lambda handle: handle.write(data))


def _dynamic_outputs(graph, data: bytes) -> bytes:
    """The model with its outputs' batch and symbolic spec dims declared dynamic, as shape inference has them.

    torch.onnx computes the graph with dynamic sizes but may declare an output's dims as the example's
    (char_lstm: [batch, 3, 52] for T x 52); the spec knows which dims are symbolic, so they are restated here.
    """
    import onnx

    from compiler.dims import Sym
    proto = onnx.load_from_string(data)
    _unique_names(proto.graph)
    for output in proto.graph.output:
        if output.name not in graph.nodes:
            continue
        dims = output.type.tensor_type.shape.dim
        spec_shape = ("batch", *(str(d) if isinstance(d, Sym) else None for d in graph[output.name].shape))
        if len(dims) != len(spec_shape):
            continue
        for dim, symbol in zip(dims, spec_shape):
            if symbol is not None:
                dim.Clear()
                dim.dim_param = _dim_name(symbol) if symbol != "batch" else "batch"
    return proto.SerializeToString()


def _unique_names(graph) -> None:
    """Rename values the graph defines twice (torch.onnx can name an inner `linear` call after the output
    layer, e.g. two `linear_3`, which onnxruntime rejects): every definition but the last gets a fresh name,
    and the uses up to the next definition follow it. The last keeps the name the graph outputs refer to."""
    left: dict = {}
    for node in graph.node:
        for name in node.output:
            left[name] = left.get(name, 0) + 1
    alias: dict = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
        for i, name in enumerate(node.output):
            left[name] -= 1
            if left[name]:
                alias[name] = f"{name}__{left[name]}"
                node.output[i] = alias[name]
            else:
                alias.pop(name, None)


def _dim_name(symbol: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in symbol)
    return cleaned if cleaned[:1].isalpha() else f"d_{cleaned}"


@contextlib.contextmanager
def _quiet_logs():
    """Silence torch.onnx's informational log lines (e.g. about torchvision) during export."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
