"""`netspec check SPEC...`: validate and shape-check specs."""
import sys

from ..api import analyse

HELP = "validate and shape-check specs (exit 0 valid, 1 wrong spec, 2 bad usage)"
EPILOG = """examples:
  netspec check specs/lenet5.yaml
  netspec check specs/*.yaml -q                       # print faults only
  netspec check specs/mlp.yaml --set hidden=512       # with a var overridden
  netspec check --list-types                          # the layer types and their attributes
"""


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument
    parser.add_argument("--list-types", action="store_true", help="list the layer types and their attributes")
    parser.add_argument("-q", "--quiet", action="store_true", help="print faults only")
    add_spec_argument(parser, many=True)


def list_types() -> str:
    from compiler import registry
    lines = []
    for name, layer_type in sorted(registry.all_types().items()):
        if name == "input":
            continue
        aliases = f" [{', '.join(layer_type.aliases)}]" if layer_type.aliases else ""
        attrs = ", ".join(a.name + ("" if not a.required else "*") for a in layer_type.attrs)
        lines.append(f"{name}{aliases} ({layer_type.family}): {attrs or '-'}\n    {layer_type.doc}")
    return "\n".join(lines) + "\n(* required)"


def run(args) -> int:
    if args.list_types:
        print(list_types())
        return 0
    if not args.specs:
        from ..errors import UsageError
        raise UsageError("check needs at least one SPEC (or --list-types)")
    failed = 0
    for path in args.specs:
        graph, diagnostics = analyse(path, args.overrides)
        for diagnostic in diagnostics:
            print(diagnostic, file=sys.stderr)
        if diagnostics:
            failed += 1
        elif not args.quiet:
            print(f"{path}: ok ({graph.name}: {len(graph.layers())} layers, {graph.total_params:,} params)")
    return 1 if failed else 0
