"""`netspec schema [-o FILE]`: the JSON Schema of the spec format, for editors' completion and validation."""
from __future__ import annotations

import json
import sys

from ..paths import check_output_file

HELP = "write the JSON Schema of the spec format (editor completion and validation)"
DESCRIPTION = """Write a JSON Schema (draft 2020-12) of the spec format, generated from the layer registry:
every layer type with its attributes, their types, enums, bounds, defaults, aliases and docs, and the
vars, blocks, inputs, outputs, train and pretrain sections. Point your editor's YAML language server at it
(a first line '# yaml-language-server: $schema=netspec.schema.json', or the yaml.schemas setting)."""
EPILOG = """examples:
  netspec schema -o netspec.schema.json
  netspec schema | jq '.["$defs"].type_name'
"""


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default: stdout)")


def run(args) -> int:
    from ..schema import build_schema
    from .draw import write_file
    text = json.dumps(build_schema(), indent=1) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    check_output_file(args.output)
    write_file(args.output, text.encode("utf-8"))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
