"""The run-time half of a generated file: SPEC and TRAIN dicts, the inlined data/progress/checkpoint/plot/
training-policy/trainer sources, and the `train()` / `main()` entry points."""
from __future__ import annotations

import os

from netspec.config import read_train
from netspec.losses import loss_terms
from netspec.paths import default_run_dir

from .inline import Imports, inline_module
from .pysource import assignment

# inlined in this order; each is the one implementation netspec itself uses
RUNTIME_MODULES = ("netspec.argtypes", "netspec.data", "netspec.multidata", "netspec.decode", "backends.progress", "backends.checkpoint", "backends.plot",
                   "backends.loop",
                   "backends.torch.trainer")


def _absolute(path: str | None) -> str | None:
    """A resolved data path as an absolute path, so the file runs from any directory (--data overrides it)."""
    return os.path.abspath(path) if path else path


def output_activation(graph, name: str | None = None) -> str | None:
    """The activation an output (default: the first) ends with, so that the loss can account for it."""
    node = graph[name or graph.outputs[0]]
    if node.op in ("softmax", "sigmoid"):
        return node.op
    return node.activation if node.activation in ("softmax", "sigmoid") else None


def token_range(graph, input_name: str) -> int | None:
    """The smallest vocabulary among the embeddings that read an input (None: no embedding reads it)."""
    sizes = [n.attrs["vocab"] for n in graph.layers() if n.op == "embedding" and input_name in n.inputs]
    return min(sizes) if sizes else None


def spec_dict(graph) -> dict:
    from compiler.dims import shape_json
    return {
        "name": graph.name,
        "run_dir": default_run_dir(graph.name),
        "source_hash": graph.source_hash,
        "inputs": {name: {"shape": shape_json(graph[name].shape), "dtype": graph[name].dtype,
                          "vocab": token_range(graph, name)} for name in graph.inputs},
        "outputs": len(graph.outputs),
        "output_names": list(graph.outputs),
        "output_shape": shape_json(graph[graph.outputs[0]].shape),
        "output_activation": output_activation(graph),
        "clip": {key: list(bounds) for key, bounds in graph.param_clips().items()},   # binary latent weights
    }


def train_dict(graph) -> dict:
    from backends.base import resolve_data_path
    cfg = read_train(graph.train).as_dict()
    cfg["data"]["path"] = _absolute(resolve_data_path(graph, cfg["data"].get("path")))
    cfg["optimizer"]["betas"] = list(cfg["optimizer"]["betas"])
    cfg["terms"] = [{**term, "activation": output_activation(graph, term["output"])} for term in loss_terms(graph)]
    return cfg


def emit_runtime(imports: Imports) -> str:
    """The inlined runtime sections."""
    return "\n\n\n".join(inline_module(name, imports) for name in RUNTIME_MODULES)


def emit_entry_points(graph, hooks: dict) -> str:
    hooks_arg = ", hooks=HOOKS" if hooks else ""
    parts = [assignment("SPEC", spec_dict(graph)),
             "# the spec's validated train: section; `python model.py --help` lists the command-line overrides\n"
             + assignment("TRAIN", train_dict(graph))]
    if hooks:
        parts.append("HOOKS = {" + ", ".join(f"{k!r}: {v}" for k, v in hooks.items()) + "}")
    parts.append(f'''def train(**options) -> dict:
    """Train build_model() with TRAIN; options (epochs, out, resume, max_steps, ...) override it. See fit()."""
    return fit(build_model, SPEC, TRAIN{hooks_arg}, **options)''')
    parts.append(f'''def main(argv=None) -> int:
    return run_cli(build_model, SPEC, TRAIN, argv{hooks_arg})''')
    parts.append('''if __name__ == "__main__":
    sys.exit(main())''')
    return "\n\n\n".join(parts)
