"""`netspec compile SPEC --target torch|onnx -o FILE`: lower a spec to PyTorch source or an ONNX graph."""
import sys

from ..api import load_graph
from ..paths import check_output_file

HELP = "write standalone PyTorch source (or ONNX) for a spec"
EPILOG = """examples:
  netspec compile specs/lenet5.yaml --target torch -o lenet5.py   # then: python lenet5.py --epochs 5
  netspec compile specs/lenet5.yaml                               # print the source
  netspec compile specs/char_lstm.yaml --target onnx -o char_lstm.onnx
  netspec compile specs/digits_cnn.yaml --target onnx -o cnn.onnx --checkpoint runs/digits_cnn/checkpoint.npz
"""
TARGETS = ("torch", "onnx")


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument
    add_spec_argument(parser)
    parser.add_argument("--target", default="torch", metavar="{" + ",".join(TARGETS) + "}",
                        help="torch (default): a standalone .py file; onnx: an .onnx graph")
    parser.add_argument("-o", "--output", metavar="FILE", help="output file (torch: default stdout)")
    parser.add_argument("--checkpoint", metavar="FILE", help="onnx: export with this checkpoint's weights")


def run(args) -> int:
    from ..errors import UsageError, UserError, did_you_mean
    if args.target not in TARGETS:
        raise UsageError(f"unknown target '{args.target}'; " + (did_you_mean(args.target, TARGETS) or
                                                                 f"choose from {', '.join(TARGETS)}"))
    if args.target == "onnx" and args.output in (None, "-"):
        raise UsageError("--target onnx needs -o FILE.onnx")
    if args.output not in (None, "-"):
        check_output_file(args.output)
    if args.checkpoint is not None and args.target != "onnx":
        raise UsageError("--checkpoint goes with --target onnx (a torch file loads weights itself)")
    graph = load_graph(args.spec, args.overrides)
    if hasattr(graph, "graphs") and args.target == "onnx":
        raise UserError(f"{args.spec}: spec '{graph.name}' has several networks; ONNX export takes one",
                        "compile it with --target torch")
    if args.target == "onnx":
        from backends.torch import available, export_onnx
        ok, reason = available()
        if not ok:
            raise UserError(reason)
        export_onnx(graph, args.output, args.checkpoint)
        print(f"wrote {args.output}", file=sys.stderr)
        return 0
    from backends.checkpoint import atomic_write
    from backends.torch import generate
    source = generate(graph)     # several networks: a GAN file (backends/torch/gan_codegen.py)
    if not args.output or args.output == "-":
        sys.stdout.write(source)
        return 0
    atomic_write(args.output, lambda handle: handle.write(source.encode()))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
