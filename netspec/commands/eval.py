"""`netspec eval SPEC --checkpoint FILE`: test-set loss and accuracy of a trained checkpoint (captioning specs:
also exact-match rate and BLEU-4 of the generated captions)."""
import json

from ..api import load_graph

HELP = "evaluate a trained checkpoint on the spec's test data (any backend)"
EPILOG = """examples:
  netspec eval specs/digits_cnn.yaml --checkpoint runs/digits_cnn/checkpoint.npz
  netspec eval specs/digits_cnn.yaml --checkpoint runs/digits_cnn/checkpoint.npz --backend torch --json
"""


def add_arguments(parser) -> None:
    from ..argtypes import positive_int
    from ..cli import add_backend_argument, add_batch_size_argument, add_spec_argument, add_threads_argument
    add_spec_argument(parser)
    parser.add_argument("--checkpoint", required=True, metavar="FILE", help="checkpoint.npz from netspec train")
    add_backend_argument(parser)
    parser.add_argument("--data", metavar="PATH", help="override train.data.path")
    add_batch_size_argument(parser, 256, "samples per forward pass (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--beam", type=positive_int, default=1, metavar="K",
                        help="captioning: beam width of the captions scored by BLEU-4 and exact match (default 1)")
    parser.add_argument("--allow-nan", action="store_true", help="accept NaN/inf values in an .npz dataset")
    add_threads_argument(parser)


def run(args) -> int:
    from backends.base import TrainOptions
    from backends.numpy import set_threads
    from backends.runtime.trainer import load_data, run_settings, targets_of
    from backends.serve import metrics, predict_all, predictor_all
    graph = load_graph(args.spec, args.overrides)
    from ..networks import require_one_network
    require_one_network(graph, args.spec, "eval")
    set_threads()
    run_model = predictor_all(graph, args.checkpoint, args.backend)
    overrides = {**({"path": args.data} if args.data else {}), **({"allow_nan": True} if args.allow_nan else {})}
    cfg, data = run_settings(graph, TrainOptions(out_dir="", data=overrides))
    dataset = load_data(graph, data, cfg.seed)
    x = dataset.x_test if len(dataset.x_test) else dataset.x_train
    y = targets_of(dataset, cfg, "test" if len(dataset.x_test) else "train")
    result = {"spec": graph.name, "backend": args.backend, "checkpoint": args.checkpoint,
              **metrics(graph, predict_all(run_model, x, args.batch_size), y)}
    if dataset.task == "captioning":           # the captions themselves: greedy (or --beam) vs the references
        from backends.generate import caption_scores, generate, token_input
        context = x.map(lambda a: a)
        del context.arrays[token_input(graph)]
        ids = generate(graph, run_model, context, dataset.vocab, args.beam, batch_size=args.batch_size)
        result.update(beam=args.beam, **caption_scores(y, ids, dataset.vocab))
    if args.json:
        print(json.dumps(result))
    else:
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
        print(shown)
    return 0
