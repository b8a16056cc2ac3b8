"""The PyTorch emitter for RBM pretraining inside generated model files.

For a spec with rbm layers and a `pretrain:` section, adds to model.py the inlined torch runtime
(backends/torch/energy_runtime.py), the validated PRETRAIN settings, each rbm layer's effective
settings, and `pretrain_rbms(model, dataset, spec, device)`, which the generated trainer calls before
fine-tuning (`hooks={'pretrain': ...}`).
"""
from __future__ import annotations

from backends.energy.hook import layer_config, rbm_chain
from netspec.config import read_pretrain

from .codegen import EXTRA_SECTIONS, Section
from .inline import inline_module
from .pysource import assignment

HOOK = '''def pretrain_rbms(model, dataset, spec, device, out=None, resume=False, write=True):
    """Greedy RBM pretraining (DBN, autoencoder) or DBM training of the model's rbm layers.

    With `out`, keeps out/pretrain_state.npz after every epoch of every stage (resume=True continues from
    it) and writes out/pretrained.npz (the generative model before fine-tuning, for `netspec sample`) and
    out/pretrain.jsonl (monitors per epoch), as the NumPy backend does; write=False (other DDP ranks) reads only.
    """
    dtype = next(model.parameters()).dtype
    x_train = torch.as_tensor(dataset.x_train, dtype=dtype, device=device)
    held_out = torch.as_tensor(dataset.x_test, dtype=dtype, device=device)

    def log(message):
        print(message, file=sys.stderr)

    identity = {"spec": spec["name"], "source_hash": spec["source_hash"], "method": PRETRAIN["method"],
                "backend": "torch"}
    progress = PretrainProgress(out, identity, resume, log, write)
    rows = pretrain_stack(model, x_train, PRETRAIN, RBM_LAYERS, TIED_DECODERS, log, held_out, progress)
    if out and write:
        state = {key: value.detach().cpu().numpy() for key, value in model.state_dict().items()}
        save(os.path.join(out, "pretrained.npz"), state, {"spec": spec["name"], "source_hash": spec["source_hash"],
                                                          "phase": "pretrained", "method": PRETRAIN["method"],
                                                          "backend": "torch"})
        text = "".join(json.dumps(row) + "\\n" for row in rows).encode()
        atomic_write(os.path.join(out, "pretrain.jsonl"), lambda handle: handle.write(text))
    return model'''


def section(graph, imports) -> Section | None:
    """The pretraining section of a model file, or None when the spec has nothing to pretrain."""
    if not graph.pretrain or not any(n.op == "rbm" for n in graph.layers()):
        return None
    pretrain = read_pretrain(graph.pretrain)
    layers = []
    for node in rbm_chain(graph):
        cfg = layer_config(pretrain, node)
        settings = {key: getattr(cfg, key) for key in ("method", "k", "persistent", "chains", "lr", "momentum",
                                                       "momentum_switch", "weight_decay", "sparsity", "sparsity_cost",
                                                       "init_scale", "epochs", "batch_size", "propagate", "seed")}
        settings["name"] = node.name
        settings["momentum"] = list(settings["momentum"]) if isinstance(settings["momentum"], tuple) else \
            settings["momentum"]
        layers.append((node.module_path, (node.attrs["visible_units"], node.attrs["hidden_units"]), settings))
    tied = [(n.module_path, graph[n.attrs["of"]].module_path) for n in graph.layers() if n.op == "tied"]
    values = pretrain.as_dict()
    values["momentum"] = list(values["momentum"])
    imports.add_source("import json\nimport os\nimport sys\nimport torch\n")
    code = "\n\n\n".join([
        inline_module("backends.energy.resume", imports),
        inline_module("backends.torch.energy_runtime", imports),
        "# the spec's validated pretrain: section, and each rbm layer's settings (its own overrides applied)\n"
        + assignment("PRETRAIN", values),
        assignment("RBM_LAYERS", layers),
        assignment("TIED_DECODERS", tied) + "  # (decoder, rbm whose visible_bias starts its bias)",
        HOOK])
    return Section(code, hooks={"pretrain": "pretrain_rbms"})


if section not in EXTRA_SECTIONS:
    EXTRA_SECTIONS.append(section)
