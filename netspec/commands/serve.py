"""`netspec serve SPEC`: a local page with the spec's diagram, summary and faults, redrawn on every save."""
from __future__ import annotations

import argparse
import sys

from ..argtypes import non_negative_int
from ..errors import UserError

HELP = "a live local page: the diagram (hover for shapes), the summary and the faults, redrawn on each save"
DESCRIPTION = """Serve a local web page for a spec: its diagram (the same as 'netspec draw', with pan and
zoom; hover a node for its attributes, shapes, parameters and FLOPs, click it for its line in the spec),
the summary table and the spec's faults. The page re-checks and redraws within half a second of each save;
while the spec is broken it lists the faults (file:line:col) above the last good diagram.

The server listens on 127.0.0.1 only and answers two fixed routes (the page and its state); it reads no
file but the spec. --host exposes it to other machines: only do that on a network you trust."""
EPILOG = """examples:
  netspec serve specs/resnet18.yaml                   # then open http://127.0.0.1:8000/
  netspec serve specs/resnet50.yaml --collapse --port 8080
  netspec serve specs/char_lstm.yaml --unroll 4 --port 0   # any free port (the URL is printed)
"""


def _port(text: str) -> int:
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, found {value}")
    return value


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument
    from .draw import add_view_arguments
    add_spec_argument(parser)
    parser.add_argument("--port", type=_port, default=8000, metavar="N", help="port (default 8000; 0: a free one)")
    parser.add_argument("--host", default=None, metavar="ADDRESS",
                        help="address to listen on (default 127.0.0.1; another one lets other machines read the spec)")
    add_view_arguments(parser)


def run(args) -> int:
    import os

    from ..workbench.server import make_server, serve_in_thread
    from ..workbench.state import Watcher
    from .draw import view_options

    if not os.path.isfile(args.spec):
        raise UserError(f"{args.spec}: no such file", "give the path of a spec (YAML)")
    host = args.host or "127.0.0.1"
    watcher = Watcher(args.spec, args.overrides, view_options(args))
    state = watcher.current()
    for fault in state["errors"]:
        print(fault["text"], file=sys.stderr)
    try:
        server = make_server(watcher, host, args.port)
    except OSError as exc:
        hint = "try another --port, or --port 0 for any free one"
        raise UserError(f"cannot listen on {host}:{args.port}: {exc.strerror or exc}", hint) from None
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    if args.host is not None and host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: anyone who can reach this machine can read {args.spec}", file=sys.stderr)
    print(f"serving {args.spec} at http://{shown}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    thread = serve_in_thread(server)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.shutdown()
        server.server_close()
    return 0
