"""`netspec summary SPEC [--json]`: per-layer shapes, params and FLOPs."""
from ..api import load_graph

HELP = "per-layer output shape, params, FLOPs and totals (--json for one JSON object)"
EPILOG = """examples:
  netspec summary specs/lenet5.yaml
  netspec summary specs/resnet18.yaml --json          # name, total_params, output_shape, layers
  netspec summary specs/char_lstm.yaml --set hidden=256
"""


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument
    add_spec_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from compiler.analysis import summary_json, summary_table
    graph = load_graph(args.spec, args.overrides)
    if hasattr(graph, "graphs"):                # several networks
        from compiler.networks import networks_summary_json, networks_summary_table

        from ..networks import gan_roles
        roles = gan_roles(graph)
        summary = (networks_summary_json(graph.name, graph.description, graph.graphs, roles and roles[0])
                   if args.json else networks_summary_table(graph.name, graph.graphs))
        print(__import__("json").dumps(summary, indent=2) if args.json else summary)
        return 0
    if args.json:
        import json
        print(json.dumps(summary_json(graph), indent=2))
    else:
        print(summary_table(graph))
    return 0
