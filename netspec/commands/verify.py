"""`netspec verify SPEC [--json]`: the same weights and batch through every backend, compared with NumPy."""
import json

from ..api import load_graph

HELP = "run one batch through every available backend and report the largest output/gradient differences"
EPILOG = """examples:
  netspec verify specs/digits_cnn.yaml
  netspec verify specs/char_lstm.yaml --json --batch-size 4
differences are relative to the NumPy reference's largest magnitude (at least 1); exit 1 above --tolerance
"""


def add_arguments(parser) -> None:
    from ..argtypes import non_negative_float, random_seed
    from ..cli import add_backend_argument, add_batch_size_argument, add_spec_argument
    add_spec_argument(parser)
    add_batch_size_argument(parser, 2, "samples in the batch (default: %(default)s)", "--batch")
    parser.add_argument("--seed", type=random_seed, default=0, metavar="N",
                        help="seed of the weights and the batch (default: %(default)s)")
    add_backend_argument(parser, action="append", default=None,
                         help="compare only this backend with the NumPy reference (repeatable; default: all)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="precision (float32)")
    parser.add_argument("--tolerance", type=non_negative_float, default=1e-4, metavar="X",
                        help="largest accepted difference (default: %(default)g)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from backends import get_backend
    from backends.numpy import set_threads
    from backends.verify import verify
    for name in args.backend or ():
        get_backend(name)                  # an unknown name is a usage error with a did-you-mean
    graph = load_graph(args.spec, args.overrides)
    set_threads()
    if hasattr(graph, "graphs"):                # several networks: each is verified on its own
        reports = {name: _verified(net, args, verify) for name, net in graph.graphs.items()}
        ok = all(report["ok"] for report in reports.values())
        if args.json:
            print(json.dumps({"name": graph.name, "ok": ok, "networks": reports}))
        return 0 if ok else 1
    report = _verified(graph, args, verify)
    if args.json:
        print(json.dumps(report))
    return 0 if report["ok"] else 1


def _verified(graph, args, verify) -> dict:
    """Verify one graph; print its lines (unless --json) and return its report."""
    report = verify(graph, batch=args.batch_size, seed=args.seed, only=args.backend, dtype=args.dtype)
    report["tolerance"] = args.tolerance
    report["ok"] = report["max_difference"] <= args.tolerance
    if not args.json:
        print(f"{graph.name}: batch {args.batch_size}, {args.dtype}, {graph.total_params:,} params, reference numpy "
              f"(loss {report['loss']:.6f})")
        for name, row in report["backends"].items():
            if "skipped" in row:
                print(f"  {name:<11} skipped: {row['skipped']}")
                continue
            print(f"  {name:<11} outputs max diff {row['output_max_abs']:.3g} (rel {row['output_max_rel']:.3g}, "
                  f"{row['output_worst']}); gradients max diff {row['grad_max_abs']:.3g} "
                  f"(rel {row['grad_max_rel']:.3g}, {row['grad_worst']})")
        for name, row in report.get("energy", {}).get("layers", {}).items():
            print(f"  rbm {name}: free energy max diff {row['free_energy_max_rel']:.3g}, {row['method']} gradients "
                  f"max diff {row['cd_grad_max_rel']:.3g} (torch vs numpy, same noise)")
        print(f"{'ok' if report['ok'] else 'MISMATCH'}: largest difference {report['max_difference']:.3g} "
              f"(tolerance {args.tolerance:g})")
    return report
