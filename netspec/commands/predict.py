"""`netspec predict SPEC --checkpoint FILE --input FILE.npz|.npy [--output FILE]`: run a checkpoint on inputs."""
import json

import numpy as np

from ..api import load_graph
from ..errors import UsageError, UserError
from ..paths import check_output_file

HELP = "run a trained checkpoint on inputs from a .npy/.npz file"
EPILOG = """examples:
  netspec predict specs/digits_cnn.yaml --checkpoint runs/digits_cnn/checkpoint.npz --input x.npy
  netspec predict specs/digits_cnn.yaml --checkpoint ckpt.npz --input batch.npz --output out.npz
an .npz input is read from its array 'x' (or its only array); outputs are written atomically
(.npy: the raw outputs; .npz: 'output' and, for classifiers, 'prediction')
"""


def add_arguments(parser) -> None:
    from ..cli import add_backend_argument, add_batch_size_argument, add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    parser.add_argument("--checkpoint", required=True, metavar="FILE", help="checkpoint.npz from netspec train")
    parser.add_argument("--input", required=True, metavar="FILE", help="inputs as .npy, or .npz with array 'x'")
    parser.add_argument("--output", metavar="FILE", help="write outputs to FILE (.npy or .npz)")
    add_backend_argument(parser)
    add_batch_size_argument(parser, 256, "samples per forward pass (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--allow-nan", action="store_true", help="accept NaN/inf values in the inputs")
    add_threads_argument(parser)


def read_input(path: str, allow_nan: bool = False) -> np.ndarray:
    """The inputs of an .npy file, or of an .npz's array 'x' (or its only array), checked for use."""
    from ..data import check_array, read_arrays
    loaded = read_arrays(path, UserError, "input file")
    name = "x"
    if isinstance(loaded, dict):
        names = sorted(loaded)
        if "x" not in loaded and len(names) != 1:
            raise UserError(f"{path}: .npz has arrays {', '.join(names) or 'none'}; expected one named 'x'")
        name = "x" if "x" in loaded else names[0]
        loaded = loaded[name]
    return check_array(loaded, f"{path}: array '{name}'" if path.endswith(".npz") else path, allow_nan)


def run(args) -> int:
    from backends.checkpoint import atomic_write
    from backends.numpy import set_threads
    from backends.runtime.model import loss_kind, require_one_input
    from backends.serve import fit_input, predict_all, predictor
    if args.output and not args.output.endswith((".npy", ".npz")):
        raise UsageError(f"--output {args.output}: outputs are written as .npy or .npz; use a name ending in "
                         ".npy or .npz")
    if args.output:
        check_output_file(args.output, "--output")
    graph = load_graph(args.spec, args.overrides)
    from ..networks import require_one_network
    require_one_network(graph, args.spec, "predict")
    require_one_input(graph)
    set_threads()
    x = fit_input(graph, read_input(args.input, args.allow_nan), args.input)
    outputs = predict_all(predictor(graph, args.checkpoint, args.backend), x, args.batch_size)
    classes = outputs.argmax(axis=-1) if loss_kind(graph) == "cross_entropy" else None
    if args.output:
        if args.output.endswith(".npz"):
            arrays = {"output": outputs, **({"prediction": classes} if classes is not None else {})}
            atomic_write(args.output, lambda handle: np.savez(handle, **arrays))
        else:
            atomic_write(args.output, lambda handle: np.save(handle, outputs))
    result = {"spec": graph.name, "samples": len(x), "output_shape": list(outputs.shape[1:])}
    if args.output:
        result["output"] = args.output
    if classes is not None:
        result["predictions"] = classes.tolist()
    if args.json:
        print(json.dumps(result))
    elif classes is not None and not args.output:
        for index, label in enumerate(classes.tolist()):
            print(f"{index}: {label}")
    else:
        print(", ".join(f"{k} {v}" for k, v in result.items() if k != "predictions"))
    return 0
