"""`netspec train SPEC --backend numpy|numba-cuda|torch`: train on the spec's data."""
import json
import os

from ..api import load_graph

HELP = "train a spec with a backend, with progress, metrics and checkpoints"
EPILOG = """examples:
  netspec train specs/digits_mlp.yaml --backend numpy
  netspec train specs/digits_cnn.yaml --backend torch --epochs 5 --json
  netspec train specs/digits_cnn.yaml --backend numpy --resume     # continue a killed run
  netspec train specs/digits_cnn.yaml --backend numpy --overwrite  # discard the earlier run, start again
"""


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    parser.add_argument("--backend", default="numpy", help="numpy (default), numba-cuda or torch")
    parser.add_argument("-o", "--out", metavar="DIR", help="run directory (default: runs/<spec name>)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    again.add_argument("--overwrite", action="store_true", help="discard an earlier run in the run directory")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size")
    parser.add_argument("--seed", type=int, help="override train.seed")
    parser.add_argument("--dtype", choices=("float32", "float64"), help="override train.dtype")
    parser.add_argument("--data", metavar="PATH", help="override train.data.path")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results last")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_threads_argument(parser)


def run(args) -> int:
    from backends import get_backend
    from backends.base import TrainOptions
    graph = load_graph(args.spec, args.overrides)
    backend = get_backend(args.backend)
    options = TrainOptions(out_dir=args.out or os.path.join("runs", graph.name), resume=args.resume,
                           epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
                           data={"path": args.data} if args.data else {}, progress=not args.quiet and not args.json,
                           max_steps=args.max_steps, overwrite=args.overwrite,
                           resume_command=_resume_command(getattr(args, "argv", None)))
    result = backend.train(graph, options)
    if args.json:
        print(json.dumps(result))
    else:
        from backends.loop import done_line
        print(done_line(result))
    return 0


def _resume_command(argv) -> str | None:
    """How this run continues after Ctrl-C: the same command line, with --resume."""
    import sys

    from backends.loop import resume_command
    if argv is None:
        return None
    prog = "python -m netspec" if sys.argv[0].endswith("__main__.py") else "netspec"
    return resume_command(prog, argv)
