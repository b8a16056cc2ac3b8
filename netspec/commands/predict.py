"""`netspec predict SPEC --checkpoint FILE --input FILE.npz|.npy [--output FILE]`: run a checkpoint on inputs."""
import json

import numpy as np

from ..api import load_graph
from ..errors import UserError

HELP = "run a trained checkpoint on inputs from a .npy/.npz file"
EPILOG = """examples:
  netspec predict specs/digits_cnn.yaml --checkpoint runs/digits_cnn/checkpoint.npz --input x.npy
  netspec predict specs/digits_cnn.yaml --checkpoint ckpt.npz --input batch.npz --output out.npz
an .npz input is read from its array 'x' (or its only array); outputs are written atomically
(.npy: the raw outputs; .npz: 'output' and, for classifiers, 'prediction')
"""


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    parser.add_argument("--checkpoint", required=True, metavar="FILE", help="checkpoint.npz from netspec train")
    parser.add_argument("--input", required=True, metavar="FILE", help="inputs as .npy, or .npz with array 'x'")
    parser.add_argument("--output", metavar="FILE", help="write outputs to FILE (.npy or .npz)")
    parser.add_argument("--backend", default="numpy", help="numpy (default), numba-cuda or torch")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_argument(parser)


def read_input(path: str) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: input file not found") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read inputs ({exc})", "give a .npy file or an .npz with array 'x'") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = loaded.files
        if "x" in names:
            return loaded["x"]
        if len(names) == 1:
            return loaded[names[0]]
        raise UserError(f"{path}: .npz has arrays {', '.join(names) or 'none'}; expected one named 'x'")


def run(args) -> int:
    from backends.checkpoint import atomic_write
    from backends.numpy import set_threads
    from backends.runtime.model import loss_kind
    from backends.runtime.serve import fit_input, predict_all, predictor
    graph = load_graph(args.spec, args.overrides)
    set_threads()
    x = fit_input(graph, read_input(args.input), args.input)
    outputs = predict_all(predictor(graph, args.checkpoint, args.backend), x)
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
