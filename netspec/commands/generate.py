"""`netspec generate SPEC --checkpoint C --input images.npz [--beam K]`: captions (or text) from a checkpoint."""
import json
import os

from ..api import load_graph
from ..argtypes import non_negative_int, positive_int, random_seed
from ..errors import UsageError, UserError
from ..paths import default_run_dir

HELP = "generate captions for inputs (greedy or beam search), or text from a character model"
EPILOG = """examples:
  netspec generate specs/captioning.yaml --input digits.npz                 # greedy captions
  netspec generate specs/captioning.yaml --input digits.npz --beam 3 --json # beam search, length-normalised
  netspec generate specs/char_lstm.yaml --prime "The " --length 200 --temperature 0.8

--input is an .npz with one array per conditioning input (named after it, e.g. 'image'), or one array.
The checkpoint defaults to runs/<spec name>/checkpoint.npz. A model with only a token input (a character
model) continues --prime instead: greedy, --beam K, or sampled with --temperature T > 0.
"""


def add_arguments(parser) -> None:
    from ..cli import add_backend_argument, add_batch_size_argument, add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint.npz (default: runs/<spec name>/checkpoint.npz)")
    parser.add_argument("--input", metavar="FILE", help=".npz with one array per non-token input (captioning)")
    parser.add_argument("--beam", type=positive_int, default=1, metavar="K", help="beam width (default 1: greedy)")
    parser.add_argument("--max-length", type=positive_int, default=20, metavar="N",
                        help="most tokens per caption (default %(default)s)")
    parser.add_argument("--alpha", type=float, default=1.0,
                        help="length normalisation: scores are log-prob / length**alpha (default %(default)s)")
    parser.add_argument("--prime", default="The ", help="character models: text to start from (default %(default)r)")
    parser.add_argument("--length", type=non_negative_int, default=200, help="character models: characters to add")
    parser.add_argument("--temperature", type=float, default=0.0, help="character models: > 0 samples")
    parser.add_argument("--seed", type=random_seed, default=0, help="character models: sampling seed")
    add_backend_argument(parser)
    add_batch_size_argument(parser, 128, "samples decoded together (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_argument(parser)


def run(args) -> int:
    from backends.generate import caption_scores, generate, token_input
    from backends.numpy import set_threads
    from backends.serve import predictor_all
    from netspec.multidata import caption_text
    if args.temperature < 0:
        raise UsageError(f"--temperature {args.temperature}: expected 0 (greedy) or more")
    graph = load_graph(args.spec, args.overrides)
    token_input(graph)
    checkpoint = args.checkpoint or os.path.join(default_run_dir(graph.name), "checkpoint.npz")
    set_threads()
    context_names = [name for name in graph.inputs if name != token_input(graph)]
    if not context_names:
        return _continue_text(args, graph, checkpoint)
    if not args.input:
        raise UsageError(f"spec '{graph.name}' is conditioned on {', '.join(context_names)}: give --input FILE.npz "
                         "with one array per input")
    context = read_context(args.input, graph, context_names)
    words = vocabulary(graph)
    run_all = predictor_all(graph, checkpoint, args.backend)
    ids = generate(graph, run_all, context, words, args.beam, args.max_length, args.alpha, args.batch_size)
    captions = [caption_text(row, words) for row in ids]
    result = {"spec": graph.name, "backend": args.backend, "beam": args.beam, "captions": captions}
    if "caption" in context:
        result.update(caption_scores(context["caption"], ids, words))
    if args.json:
        print(json.dumps(result))
    else:
        for index, caption in enumerate(captions):
            print(f"{index}: {caption}")
    return 0


def read_context(path: str, graph, names: list):
    """The conditioning inputs of an .npz (arrays named after the inputs, or its one array), checked."""
    from netspec.data import check_array, read_arrays
    from netspec.multidata import context_arrays
    found = read_arrays(path, UserError, "input file")
    if not isinstance(found, dict):
        found = {names[0]: found}
    for key, value in found.items():
        check_array(value, f"{path}: array '{key}'")
    inputs = {name: (tuple(graph[name].shape), graph[name].dtype) for name in names}
    return context_arrays(found, inputs, path, UserError)


def vocabulary(graph) -> list:
    from backends.base import TrainOptions
    from backends.runtime.trainer import run_settings
    from netspec.multidata import CAPTION_WORDS
    _cfg, data = run_settings(graph, TrainOptions(out_dir="", data={}))
    if data.get("name") != "digits_captions":
        raise UserError(f"spec '{graph.name}' trains on '{data.get('name')}', which has no caption vocabulary",
                        "generate captions from a spec trained on data: {name: digits_captions}")
    return list(CAPTION_WORDS)


def _continue_text(args, graph, checkpoint: str) -> int:
    """A character model: continue --prime on any backend with the same decoder (greedy, beam or sampled)."""
    from backends.base import TrainOptions
    from backends.runtime.trainer import load_data, run_settings
    from backends.serve import predictor_all
    from netspec.decode import beam_search, log_softmax, sample_tokens
    cfg, data = run_settings(graph, TrainOptions(out_dir="", data={}))
    vocab = load_data(graph, data, cfg.seed).vocab
    if not vocab:
        raise UserError(f"spec '{graph.name}' trains on '{data.get('name')}', which has no character vocabulary")
    unknown = sorted({char for char in args.prime if char not in vocab})
    if unknown or not args.prime:
        raise UserError(f"--prime has characters the model never saw: {''.join(unknown)!r}" if unknown else
                        "--prime must have at least one character")
    run_all, context = predictor_all(graph, checkpoint, args.backend), int(data.get("seq_len") or 64)

    def step(rows, prefixes):
        return log_softmax(run_all(prefixes[:, -context:])[graph.outputs[0]][:, -1])
    start = [vocab.index(char) for char in args.prime]
    if args.temperature > 0:
        ids = sample_tokens(step, start, args.length, args.temperature, args.seed)
    else:
        ids = beam_search(step, 1, start, None, args.beam, args.length, alpha=0.0)[0]
    text = args.prime + "".join(vocab[i] for i in ids)
    print(json.dumps({"spec": graph.name, "backend": args.backend, "text": text}) if args.json else text)
    return 0
