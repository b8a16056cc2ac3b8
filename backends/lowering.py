"""One registration mechanism for every backend: a table of lowerings, one entry per layer type.

Each backend owns a `Lowerings` table and fills it from modules that mirror the compiler's family layout
(`compiler/layers/<family>.py` -> `backends/<backend>/lower/<family>.py`), one decorated entry per type:

    @NUMPY.layer("relu6")
    class Relu6:
        def forward(ops, ctx, inputs, params, attrs, train): ...
        def backward(ops, ctx, grad): ...

What an entry is depends on the backend (kernels for an executing backend, a code emitter for generated
PyTorch); the table only names, finds and reports. A backend that lacks a lowering says so, naming the
backend and the types, before any work starts (`require`).
"""
from __future__ import annotations

import importlib
import pkgutil

from netspec.errors import UserError


class MissingLowering(UserError):
    """A graph uses layer types that a backend cannot lower (a user-facing fault: the CLI exits 1)."""


class Lowerings:
    """The layer-type -> lowering table of one backend, loaded on first use from its `lower` package."""

    def __init__(self, backend: str, package: str):
        self.backend = backend
        self.package = package          # e.g. 'backends.numpy.lower': every module in it registers entries
        self._entries: dict = {}
        self._loaded = False

    def layer(self, *ops: str, **options):
        """Decorator: register the decorated object as the lowering of `ops`; keyword options become its
        attributes (e.g. `fuses=("relu",)`: activations its kernels apply in the same pass)."""
        def register(entry):
            for key, value in options.items():
                setattr(entry, key, value)
            for op in ops:
                if op in self._entries:
                    raise ValueError(f"{self.backend}: layer type '{op}' has two lowerings")
                self._entries[op] = entry
            return entry
        return register

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{self.package}.{info.name}")

    def get(self, op: str):
        """The lowering of `op`; MissingLowering names the backend and the type."""
        self._load()
        try:
            return self._entries[op]
        except KeyError:
            raise MissingLowering(f"the {self.backend} backend has no lowering for layer type '{op}'") from None

    def has(self, op: str) -> bool:
        self._load()
        return op in self._entries

    def ops(self) -> list:
        """Every layer type this backend lowers."""
        self._load()
        return sorted(self._entries)

    def require(self, graph) -> None:
        """Refuse a graph with layer types this backend cannot lower, naming them all, before any work."""
        missing = sorted({node.op for node in graph.layers() if not self.has(node.op)})
        if missing:
            where = ", ".join(f"'{op}' (layer '{next(n.name for n in graph.layers() if n.op == op)}')"
                              for op in missing)
            raise MissingLowering(f"the {self.backend} backend cannot run layer type(s) {where}; "
                                  "use a backend that has them (see `netspec check --list-types`)")
