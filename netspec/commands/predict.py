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
  netspec predict specs/perceptron/and.yaml --input specs/perceptron/truth_table.npy   (weights: in the spec)
an .npz input is read from its array 'x' (or its only array); outputs are written atomically
(.npy: the raw outputs; .npz: 'output' and, for classifiers, 'prediction')
a spec with several inputs reads an .npz with one array per input, named after the inputs; with several
outputs, --output FILE.npz holds one array per output, named after the outputs
"""


def add_arguments(parser) -> None:
    from ..cli import add_backend_argument, add_batch_size_argument, add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint.npz from netspec train (optional where "
                                                             "the spec gives every parameter in 'weights:')")
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
    from backends.runtime.model import loss_kind
    from backends.serve import fit_input, predict_all, predictor
    if args.output and not args.output.endswith((".npy", ".npz")):
        raise UsageError(f"--output {args.output}: outputs are written as .npy or .npz; use a name ending in "
                         ".npy or .npz")
    if args.output:
        check_output_file(args.output, "--output")
    graph = load_graph(args.spec, args.overrides)
    from ..networks import require_one_network
    require_one_network(graph, args.spec, "predict")
    set_threads()
    if len(graph.inputs) > 1 or len(graph.outputs) > 1:
        return _run_several(args, graph)
    x = fit_input(graph, read_input(args.input, args.allow_nan), args.input)
    outputs = predict_all(predictor(graph, args.checkpoint, args.backend), x, args.batch_size)
    # classes from scores: a one-unit output (a step or sign unit, a regression) has no argmax to give
    classes = outputs.argmax(axis=-1) if loss_kind(graph) == "cross_entropy" and outputs.shape[-1] > 1 else None
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
    if not args.output and classes is None:
        result["outputs"] = outputs.tolist()
    if args.json:
        print(json.dumps(result))
    elif classes is not None and not args.output:
        for index, label in enumerate(classes.tolist()):
            print(f"{index}: {label}")
    elif not args.output:
        for index, row in enumerate(outputs.reshape(len(outputs), -1).tolist()):
            print(f"{index}: {' '.join(f'{v:g}' for v in row)}")
    else:
        print(", ".join(f"{k} {v}" for k, v in result.items() if k != "predictions"))
    return 0


def _run_several(args, graph) -> int:
    """Several inputs (an .npz with one array per input) or several outputs (one array each in --output .npz)."""
    from backends.checkpoint import atomic_write
    from backends.serve import predict_all, predictor_all

    from ..data import check_array, read_arrays
    from ..multidata import Arrays, bind_inputs
    found = read_arrays(args.input, UserError, "input file")
    if not isinstance(found, dict):
        if len(graph.inputs) > 1:
            raise UserError(f"{args.input}: is one array; spec '{graph.name}' has inputs {', '.join(graph.inputs)}",
                            "save an .npz with one array per input: np.savez(FILE, " +
                            ", ".join(f"{n}={n}" for n in graph.inputs) + ")")
        found = {graph.inputs[0]: found}
    for key, value in found.items():
        check_array(value, f"{args.input}: array '{key}'", args.allow_nan)
    inputs = {name: (tuple(graph[name].shape), graph[name].dtype) for name in graph.inputs}
    lengths = {len(found[n]) for n in graph.inputs if n in found}
    if len(lengths) > 1:
        raise UserError(f"{args.input}: the input arrays hold different numbers of samples "
                        f"({', '.join(f'{n}: {len(found[n])}' for n in graph.inputs if n in found)})")
    x = bind_inputs(Arrays(found), inputs, args.input, UserError)
    outputs = predict_all(predictor_all(graph, args.checkpoint, args.backend), x, args.batch_size)
    if args.output:
        if not args.output.endswith(".npz"):
            raise UsageError(f"--output {args.output}: a spec with several inputs or outputs writes an .npz "
                             "(one array per output)")
        atomic_write(args.output, lambda handle: np.savez(handle, **outputs))
    result = {"spec": graph.name, "samples": len(x),
              "output_shapes": {name: list(value.shape[1:]) for name, value in outputs.items()}}
    if args.output:
        result["output"] = args.output
    print(json.dumps(result) if args.json else ", ".join(f"{k} {v}" for k, v in result.items()))
    return 0
