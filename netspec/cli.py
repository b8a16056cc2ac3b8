"""The `netspec` command line. Each command lives in `netspec/commands/<name>.py` and provides
`HELP`, `add_arguments(parser)` and `run(args) -> int`; heavy imports (torch, numba) stay inside `run`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .argtypes import positive_int
from .errors import SpecError, UsageError, UserError
from .expr import parse_literal

COMMANDS = ["check", "summary", "draw", "compile", "train", "eval", "predict", "verify", "sample", "generate", "schema", "serve"]

EPILOG = """examples:
  netspec check specs/*.yaml
  netspec summary specs/lenet5.yaml --json
  netspec draw specs/resnet18.yaml -o resnet18.svg --collapse
  netspec compile specs/lenet5.yaml --target torch -o model.py
  netspec train specs/digits_cnn.yaml --backend numpy
"""


def parse_overrides(pairs) -> dict:
    """`--set name=value` pairs as a dict of typed values."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair or not pair.split("=", 1)[0].strip().isidentifier():
            raise UsageError(f"--set expects name=value, found {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_literal(value)
    return out


def add_spec_argument(parser, many: bool = False) -> None:
    """The spec path(s) and the `--set` overrides shared by every command that reads a spec."""
    if many:
        parser.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (YAML)")
    else:
        parser.add_argument("spec", metavar="SPEC", help="spec file (YAML)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a var of the spec (repeatable)")


def add_backend_argument(parser, **kwargs) -> None:
    """`--backend {numpy,numba-cuda,torch}` (an unknown name gets a did-you-mean from get_backend)."""
    from backends import BACKENDS
    names = list(BACKENDS)
    kwargs.setdefault("default", names[0])
    kwargs.setdefault("help", f"{', '.join(names[:-1])} or {names[-1]} (default: %(default)s)")
    parser.add_argument("--backend", metavar="{" + ",".join(names) + "}", **kwargs)


def add_batch_size_argument(parser, default: int | None, help: str, *aliases: str) -> None:
    """`--batch-size N` (a positive int), the one spelling of every command; `aliases` are older spellings."""
    parser.add_argument("--batch-size", *aliases, dest="batch_size", type=positive_int, default=default,
                        metavar="N", help=help)


def add_threads_argument(parser) -> None:
    """`--threads N`: CPU threads for NumPy/BLAS, Numba and torch (the same as NETSPEC_THREADS=N)."""
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads for NumPy, Numba and torch (default: $NETSPEC_THREADS, else all cores)")


def _available_commands(only: str | None = None):
    for name in ([only] if only else COMMANDS):
        try:
            yield name, importlib.import_module(f"netspec.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"netspec.commands.{name}":
                raise


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `only`, just that command's module is imported (fast start-up)."""
    from . import __version__
    parser = _Parser(prog="netspec", description="Declarative neural-network definitions: check, draw, "
                     "compile and train YAML specs.", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"netspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _available_commands(only):
        command = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                                 epilog=getattr(module, "EPILOG", None),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(handler=module.run, command_parser=command)
    return parser


def main(argv=None) -> int:
    args = None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help(sys.stderr)
            return 2
        if hasattr(args, "set"):
            args.overrides = parse_overrides(args.set)
        if getattr(args, "threads", None):
            os.environ["NETSPEC_THREADS"] = str(args.threads)      # every backend reads it
        args.argv = argv
        return int(args.handler(args) or 0)
    except UsageError as exc:
        if args is not None and getattr(args, "command_parser", None):   # argparse's own errors printed it
            args.command_parser.print_usage(sys.stderr)
        print(f"netspec: error: {exc}", file=sys.stderr)
        return 2
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return 1
    except UserError as exc:
        print(f"netspec: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:      # backends.loop.Interrupted says what is saved and how to continue
        print(f"netspec: interrupted; {exc}" if str(exc) else "netspec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the system refused a file operation: a full disk, no permission, a read-only mount
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"netspec: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for users; NETSPEC_DEBUG=1 shows it
        if os.environ.get("NETSPEC_DEBUG"):
            raise
        print(f"netspec: internal error: {type(exc).__name__}: {exc} (set NETSPEC_DEBUG=1 for the traceback, "
              "and please report it)", file=sys.stderr)
        return 3


def entry_point() -> None:
    sys.exit(main())
