"""`netspec train SPEC --backend numpy|numba-cuda|torch`: train on the spec's data."""
import json

from ..api import load_graph
from ..argtypes import positive_int, random_seed
from ..errors import UserError
from ..paths import check_run_dir, default_run_dir

HELP = "train a spec with a backend, with progress, metrics and checkpoints"
EPILOG = """examples:
  netspec train specs/digits_mlp.yaml --backend numpy
  netspec train specs/digits_cnn.yaml --backend torch --epochs 5 --json
  netspec train specs/digits_cnn.yaml --backend numpy --resume     # continue a killed run
  netspec train specs/digits_mlp.yaml --run-dir runs/mlp-wide --set hidden=256
  netspec train specs/digits_cnn.yaml --backend numpy --overwrite  # discard the earlier run, start again
"""


def add_arguments(parser) -> None:
    from ..cli import add_backend_argument, add_batch_size_argument, add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    add_backend_argument(parser)
    parser.add_argument("--run-dir", "-o", "--out", dest="run_dir", metavar="DIR",
                        help="run directory for checkpoints and metrics (default: runs/<spec name>)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    again.add_argument("--overwrite", action="store_true", help="discard an earlier run in the run directory")
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="override train.epochs")
    add_batch_size_argument(parser, None, "override train.batch_size")
    parser.add_argument("--seed", type=random_seed, metavar="N", help="override train.seed")
    parser.add_argument("--dtype", choices=("float32", "float64"), help="override train.dtype")
    parser.add_argument("--data", metavar="PATH", help="override train.data.path")
    parser.add_argument("--max-steps", type=positive_int, metavar="N", help="stop after this many optimizer steps")
    parser.add_argument("--allow-nan", action="store_true", help="accept NaN/inf values in an .npz dataset")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results last")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_threads_argument(parser)


def run(args) -> int:
    from backends import get_backend
    from backends.base import TrainOptions
    backend = get_backend(args.backend)
    if args.run_dir is not None:
        check_run_dir(args.run_dir)
    graph = load_graph(args.spec, args.overrides)
    if hasattr(graph, "graphs"):                # several networks: adversarial training
        from .train_gan import run_gan
        return run_gan(args, graph, backend)
    if not graph.train and not graph.pretrain:
        raise UserError(f"{args.spec}: spec '{graph.name}' has no train: section, so there is nothing to train with",
                        "add one, e.g. train: {loss: cross_entropy, optimizer: {type: adam, lr: 0.001}, epochs: 10, "
                        "data: {name: digits}} (see specs/digits_mlp.yaml)")
    data = {**({"path": args.data} if args.data else {}), **({"allow_nan": True} if args.allow_nan else {})}
    options = TrainOptions(out_dir=args.run_dir or default_run_dir(graph.name), resume=args.resume,
                           epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
                           data=data, progress=not args.quiet and not args.json,
                           max_steps=args.max_steps, overwrite=args.overwrite,
                           resume_command=resume_command_line(getattr(args, "argv", None)))
    if graph.train.get("method") == "perceptron":       # Rosenblatt's rule, not backprop (any --backend)
        from backends.perceptron import train as perceptron
        result = perceptron(graph, options)
    else:
        result = backend.train(graph, options)
    if args.json:
        print(json.dumps(result))
    else:
        from backends.loop import done_line
        print(done_line(result))
    return 0


def resume_command_line(argv) -> str | None:
    """How this run continues after Ctrl-C: the same command line, with --resume."""
    import sys

    from backends.loop import resume_command
    if argv is None:
        return None
    prog = "python -m netspec" if sys.argv[0].endswith("__main__.py") else "netspec"
    return resume_command(prog, argv)
