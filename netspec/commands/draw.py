"""`netspec draw SPEC -o FILE`: the architecture diagram as SVG, PNG, PDF or DOT."""
from __future__ import annotations

import os
import sys

from ..api import load_graph
from ..argtypes import non_negative_int
from ..errors import UsageError, UserError
from ..paths import check_output_file, default_output

HELP = "draw the architecture as .svg, .png, .pdf, .dot or .html (an interactive page)"
DESCRIPTION = """Draw a spec's architecture: every layer with its key attributes and parameter count,
every edge labelled with its tensor shape, blocks as clusters, merges as symbols, RBM stacks as
energy models and recurrent state as loops. The format comes from the suffix of -o (or --format);
.html writes one self-contained page with pan, zoom and each node's details on hover."""
EPILOG = """examples:
  netspec draw specs/lenet5.yaml -o lenet5.svg
  netspec draw specs/resnet50.yaml -o resnet50.png --collapse
  netspec draw specs/googlenet.yaml -o googlenet.pdf --depth 1 --rankdir LR
  netspec draw specs/char_lstm.yaml -o lstm.svg --unroll 4
  netspec draw specs/lenet5.yaml -o - --format dot      # DOT on stdout
  netspec draw specs/resnet18.yaml -o resnet18.html     # an interactive page: hover a node for its shapes
"""
FORMATS = ("svg", "png", "pdf", "dot", "html")
FALLBACK_NOTE = "note: Graphviz 'dot' not found; used the built-in layout (install Graphviz for the full layout)"


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument
    add_spec_argument(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="where to write (default: <spec name>.svg; '-' for stdout)")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from -o)")
    add_view_arguments(parser)
    parser.add_argument("--dpi", type=int, default=96, metavar="N", help="PNG resolution (default 96)")


def add_view_arguments(parser) -> None:
    """What to draw: shared by `draw` and `serve`."""
    parser.add_argument("--rankdir", choices=["TB", "LR", "BT", "RL"], default="TB",
                        type=str.upper, help="flow direction: TB top to bottom (default) or LR left to right")
    parser.add_argument("--collapse", action="store_true",
                        help="fold each block instance to one node and runs of identical instances to 'x N'")
    parser.add_argument("--depth", type=non_negative_int, metavar="N",
                        help="expand blocks nested up to N deep (0: fold every block; default: all)")
    parser.add_argument("--unroll", type=non_negative_int, default=0, metavar="N",
                        help="draw recurrent layers as N time steps instead of a state loop")
    parser.add_argument("--no-legend", action="store_true", help="leave the colour legend out")


def view_options(args):
    from compiler import diagram
    return diagram.DrawOptions(rankdir=args.rankdir, depth=args.depth, collapse=args.collapse,
                               unroll=args.unroll, legend=not args.no_legend)


def output_format(path: str | None, fmt: str | None) -> str:
    """The format from --format, else from the file suffix."""
    if fmt:
        return fmt
    if path in (None, "-"):
        return "svg" if path is None else "dot"
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in (*FORMATS, "gv", "htm"):
        raise UsageError(f"cannot tell the format of '{path}' from its suffix; use .svg, .png, .pdf, .dot or "
                         ".html, or give --format")
    return {"gv": "dot", "htm": "html"}.get(suffix, suffix)


def write_file(path: str, data: bytes) -> None:
    """Write `data` to `path` atomically, as an ordinary file (the umask's mode, not a private temp file's)."""
    from backends.checkpoint import atomic_write
    try:
        atomic_write(path, lambda handle: handle.write(data))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)
    except OSError as exc:
        raise UserError(f"cannot write '{path}': {exc.strerror or exc}", "check that the folder is writable") from None


def run(args) -> int:
    from compiler import diagram

    if args.dpi <= 0 or args.dpi > 1200:
        raise UsageError(f"--dpi must be between 1 and 1200, found {args.dpi}")
    fmt = output_format(args.output, args.format)
    if args.output not in (None, "-"):
        check_output_file(args.output)
    graph = load_graph(args.spec, args.overrides)
    path = args.output or default_output(graph.name, fmt)
    options = view_options(args)
    if hasattr(graph, "graphs"):                # several networks: clusters plus the training wiring
        from compiler.networks import networks_view

        from ..networks import training_wiring
        if fmt == "html":
            raise UserError(f"{args.spec}: the interactive page draws one network; this spec has several",
                            "write .svg, .png, .pdf or .dot")
        view = networks_view(graph.name, graph.graphs, training_wiring(graph), options)
    else:
        view = diagram.build_view(graph, options)
    if fmt == "html":                  # the workbench page, self-contained: hover details, no server
        from ..workbench.page import page
        from ..workbench.state import page_state, snapshot
        data = page(page_state(1, args.spec, [], "", snapshot(graph, view)), live=False).encode("utf-8")
    elif fmt == "dot":
        data = diagram.to_dot(view).encode("utf-8")
    elif diagram.have_dot():
        data = diagram.render(diagram.to_dot(view), fmt, dpi=args.dpi)
    elif fmt == "svg":
        from compiler.layout import layout_svg
        data = layout_svg(view, note=True).encode("utf-8")
        print(FALLBACK_NOTE + ("; it always draws top to bottom" if args.rankdir != "TB" else ""), file=sys.stderr)
    else:
        raise UserError(f"writing .{fmt} needs the Graphviz 'dot' program, which is not on PATH",
                        diagram.INSTALL_HINT)
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    write_file(path, data)
    print(f"wrote {path} ({fmt}, {len(view.nodes)} nodes)", file=sys.stderr)
    return 0
