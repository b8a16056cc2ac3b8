"""Analysis passes: the per-layer summary (shape, params, FLOPs, memory) as a table or JSON."""
from __future__ import annotations

from netspec.errors import fmt_shape

from .dims import numel, shape_json
from .ir import Graph


def summary_rows(graph: Graph) -> list[dict]:
    rows = []
    for node in graph:
        rows.append({
            "name": node.name, "type": node.op, "inputs": list(node.inputs),
            "output_shape": shape_json(node.shape), "dtype": node.dtype, "params": node.param_count,
            "param_bits": node.param_bits, "flops": node.flops, "memory_bytes": node.memory,
            "block": node.scope[-1].path if node.scope else None,
        })
    return rows


def summary_json(graph: Graph) -> dict:
    outputs = [graph[name] for name in graph.outputs]
    total = graph.total_params
    trainable = sum(numel(t.shape) for n in graph for t in n.params if t.trainable)
    bits = graph.total_param_bits
    return {
        "name": graph.name,
        "description": graph.description,
        "inputs": {name: {"shape": shape_json(graph[name].shape), "dtype": graph[name].dtype}
                   for name in graph.inputs},
        "output_shape": shape_json(outputs[0].shape) if len(outputs) == 1 else [shape_json(o.shape) for o in outputs],
        "outputs": [o.name for o in outputs],
        "total_params": total,
        "trainable_params": trainable,
        "total_flops": graph.total_flops,
        "activation_bytes": sum(n.memory for n in graph),
        "param_bytes": -(-bits // 8),
        "param_bits": bits,
        "binary_params": sum(numel(t.shape) for n in graph for t in n.params if t.bits == 1),
        "layers": [row for row in summary_rows(graph) if row["type"] != "input"],
    }


def _human(count: int) -> str:
    for unit, size in (("G", 10 ** 9), ("M", 10 ** 6), ("K", 10 ** 3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(count)


def summary_table(graph: Graph) -> str:
    """A torchinfo-like table: layer, type, output shape, params, FLOPs; then totals."""
    header = ("Layer (name)", "Type", "Output shape", "Params", "FLOPs")
    rows = []
    for node in graph:
        depth = len(node.scope)
        label = "  " * depth + node.name.rsplit("/", 1)[-1]
        if node.op == "input":
            kind = f"input ({node.dtype})" if node.dtype != "float32" else "input"
        else:
            kind = node.op + (f" +{node.activation}" if node.activation else "")
        rows.append((label, kind, fmt_shape(node.shape), f"{node.param_count:,}", _human(node.flops)))
    # block headers: show a line when a new block instance starts
    lines, seen = [], set()
    body = []
    for node, row in zip(graph, rows):
        for scope in node.scope:
            if scope.path not in seen:
                seen.add(scope.path)
                indent = "  " * scope.path.count("/")
                body.append((f"{indent}{scope.path.rsplit('/', 1)[-1]}", f"[{scope.block}]", "", "", ""))
        body.append(row)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(5)]
    rule = "=" * (sum(widths) + 8)

    def fmt(r):
        return (f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  "
                f"{r[3]:>{widths[3]}}  {r[4]:>{widths[4]}}").rstrip()

    lines.append(rule)
    lines.append(fmt(header))
    lines.append(rule)
    lines.extend(fmt(r) for r in body)
    lines.append(rule)
    total = graph.total_params
    activation = sum(n.memory for n in graph)
    lines.append(f"Total params: {total:,}")
    lines.append(f"Total FLOPs (multiply-adds per sample): {graph.total_flops:,} ({_human(graph.total_flops)})")
    binary = sum(numel(t.shape) for n in graph for t in n.params if t.bits == 1)
    frozen = sum(numel(t.shape) for n in graph for t in n.params if not t.trainable)
    if frozen:
        lines.append(f"Trainable params: {total - frozen:,} ({frozen:,} frozen)")
    size = graph.total_param_bits / 8 / 2 ** 20
    note = f" ({binary:,} binary params at 1 bit, the rest at 32)" if binary else ""
    lines.append(f"Params size: {size:.2f} MiB{note}; activations per sample: {activation / 2 ** 20:.2f} MiB")
    if any(not isinstance(d, int) for n in graph if n.shape for d in n.shape):
        lines.append("Symbolic dims count as 1 in FLOPs and memory.")
    lines.append(rule)
    return "\n".join(lines)
