"""Several graphs of one spec shown together: the summary of each, and one drawing with each network as a
cluster plus the training wiring (noise -> generator -> discriminator <- data) as dashed edges."""
from __future__ import annotations

from netspec.errors import fmt_shape

from .analysis import summary_json, summary_table
from .diagram import DrawOptions, VCluster, VEdge, View, VNode, build_view


def networks_summary_table(name: str, graphs: dict) -> str:
    parts = [f"{name}: {len(graphs)} networks, {sum(g.total_params for g in graphs.values()):,} params"]
    for net, graph in graphs.items():
        parts.append(f"\nnetwork '{net}'\n" + summary_table(graph))
    return "\n".join(parts)


def networks_summary_json(name: str, description: str, graphs: dict, sample_net: str | None = None) -> dict:
    """One object: name, total_params, output_shape (the sampling network's), layers (names prefixed by their
    network, as the checkpoint keys are) and each network's own summary under `networks`."""
    own = {net: summary_json(graph) for net, graph in graphs.items()}
    first = sample_net if sample_net in own else next(iter(own))
    layers = [{**row, "name": f"{net}.{row['name']}", "network": net} for net, entry in own.items()
              for row in entry["layers"]]
    return {"name": name, "description": description, "total_params": sum(e["total_params"] for e in own.values()),
            "output_shape": own[first]["output_shape"], "layers": layers, "networks": own}


def networks_view(name: str, graphs: dict, wiring: list, options: DrawOptions | None = None) -> View:
    """One View: each graph's drawing inside a cluster named after its network; `wiring` holds
    (source, target, label) with each end a network name (its input/output) or a free node's title
    ('noise', 'data'), drawn as dashed edges."""
    options = options or DrawOptions()
    view = View(name, f"{len(graphs)} networks", options.rankdir)
    ends = {}
    for net, graph in graphs.items():
        own = build_view(graph, options)
        view.clusters[net] = VCluster(net, f"{net}  \u00b7  {graph.total_params:,} params", None)
        for key, cluster in own.clusters.items():
            view.clusters[f"{net}/{key}"] = VCluster(f"{net}/{key}", cluster.label,
                                                     f"{net}/{cluster.parent}" if cluster.parent else net, cluster.row)
        for node in own.nodes.values():
            node.id = f"{net}/{node.id}"
            node.cluster = f"{net}/{node.cluster}" if node.cluster else net
            view.add(node)
        for edge in own.edges:
            view.edges.append(VEdge(f"{net}/{edge.src}", f"{net}/{edge.dst}", edge.label, edge.style))
        for family, label in own.legend:
            if (family, label) not in view.legend:
                view.legend.append((family, label))
        for style, label in own.edge_legend:
            if (style, label) not in view.edge_legend:
                view.edge_legend.append((style, label))
        ends[net] = (f"{net}/{graph.inputs[0]}", f"{net}/{graph.outputs[0]} (output)",
                     fmt_shape(graph[graph.outputs[0]].shape))
    for source, target, label in wiring:
        if source not in ends:
            view.add(VNode(source, source, [label] if label else [], "input", "input"))
            src = source
        else:
            src, label = ends[source][1], label or ends[source][2]
        if target not in ends:
            view.add(VNode(target, target, [], "output", "output"))
            dst = target
        else:
            dst = ends[target][0]
        view.edges.append(VEdge(src, dst, label, "wiring"))
    if wiring and options.legend:
        view.edge_legend.append(("wiring", "training wiring"))
    view.title = f"{name}  \u00b7  {sum(g.total_params for g in graphs.values()):,} params"
    return view
