"""The PyTorch backend: generates a standalone, readable PyTorch source file per spec and trains with it.

generate(graph) -> str           the model file (`netspec compile --target torch`)
load_module(graph)               that source imported as a module
build_model(graph) -> nn.Module  the generated model with fresh weights
train(graph, options) -> dict    `netspec train --backend torch`: runs the generated file's fit() in-process
sample_text(graph, checkpoint)   text from a trained character model (greedy, beam search or sampling)
export_onnx(graph, path)         `netspec compile --target onnx`
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

NAME = "torch"


def available() -> tuple[bool, str]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False, "PyTorch is not installed: pip install torch"
    return True, ""


def generate(graph, format_code: bool = True) -> str:
    """The source of a standalone PyTorch file for `graph` (needs only torch and numpy to run); for a
    several-network spec (netspec.networks.Networks), a GAN file."""
    if hasattr(graph, "graphs"):
        from .gan_codegen import generate_gan
        return generate_gan(graph, format_code)
    from .codegen import generate as _generate
    from .lower import TORCH
    TORCH.require(graph)          # every layer type has a lowering, or one clear error naming them
    return _generate(graph, format_code)


def load_module(graph, source: str | None = None):
    """Import the generated source of `graph` as a module (written to a cache file so tracebacks show it)."""
    from netspec.paths import file_stem
    ok, reason = available()
    if not ok:
        from netspec.errors import UserError
        raise UserError(reason)
    source = source if source is not None else generate(graph, format_code=False)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"netspec_generated_{file_stem(graph.name).replace('.', '_').replace('-', '_')}_{digest}"
    if name not in sys.modules:
        _import(name, source)
    module = sys.modules[name]
    module.set_threads()          # $NETSPEC_THREADS (or --threads) for every use: train, eval, predict, verify
    return module


def _import(name: str, source: str) -> None:
    directory = os.path.join(tempfile.gettempdir(), f"netspec-torch-{os.getuid() if hasattr(os, 'getuid') else 0}")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + ".py")
    if not os.path.exists(path):
        from backends.checkpoint import atomic_write
        atomic_write(path, lambda handle: handle.write(source.encode()))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def build_model(graph):
    """The generated nn.Module of `graph`, with fresh weights (state_dict keys = graph.state_layout())."""
    return load_module(graph).build_model()


def train(graph, options) -> dict:
    """Train `graph` with its generated code; options: backends.base.TrainOptions."""
    module = load_module(graph)
    return module.train(epochs=options.epochs, out=options.out_dir, resume=options.resume, overwrite=options.overwrite,
                        max_steps=options.max_steps, batch_size=options.batch_size, seed=options.seed,
                        data=dict(options.data) or None, dtype=options.dtype, progress=options.progress,
                        resume_with=options.resume_command)


def train_gan(networks, options) -> dict:
    """Train a several-network spec's GAN with its generated file's fit_gan()."""
    module = load_module(networks)
    return module.train(epochs=options.epochs, out=options.out_dir, resume=options.resume, overwrite=options.overwrite,
                        max_steps=options.max_steps, batch_size=options.batch_size, seed=options.seed,
                        data=dict(options.data) or None, dtype=options.dtype, progress=options.progress,
                        resume_with=options.resume_command)


def sample_text(graph, checkpoint: str, prime: str = "The ", length: int = 200, beam: int = 1,
                temperature: float = 0.0) -> str:
    """Text from a trained character model's checkpoint: greedy (beam 1), beam search or sampling."""
    module = load_module(graph)
    return module.sample_text(module.build_model, module.SPEC, module.TRAIN, checkpoint, prime, length, beam,
                              temperature)


def export_onnx(graph, path: str, checkpoint: str | None = None, opset: int | None = None) -> None:
    """Write the model as ONNX (dynamic batch and symbolic dims), with a checkpoint's weights if given."""
    from .export import export_onnx as _export
    _export(graph, path, checkpoint, opset)
