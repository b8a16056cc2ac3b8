"""The IR: a typed graph whose nodes are ops with validated attributes and whose edges are tensors."""
from __future__ import annotations

from dataclasses import dataclass, field

from netspec.errors import Pos


@dataclass(frozen=True)
class BlockScope:
    """One enclosing block instance of a node: its full path and its block type."""

    path: str          # e.g. 'stage2' or 'stage2/branch1'
    block: str         # the block type name from `blocks:`
    pos: Pos | None = None


@dataclass
class TensorSpec:
    """A named array a node owns: a parameter or a buffer, in PyTorch's layout."""

    name: str          # local name, e.g. 'weight', 'weight_ih_l0'
    shape: tuple
    trainable: bool = True


@dataclass
class Node:
    """One op. `inputs` name producer nodes; inference fills the fields after `scope`."""

    name: str
    op: str
    attrs: dict
    inputs: list
    pos: Pos | None = None
    scope: tuple = ()
    attr_pos: dict = field(default_factory=dict)
    type_as_written: str = ""
    # filled by shape inference
    in_shapes: list = field(default_factory=list)
    shape: tuple | None = None
    dtype: str = "float32"
    params: list = field(default_factory=list)     # [TensorSpec] trainable
    buffers: list = field(default_factory=list)    # [TensorSpec] state (running stats)
    flops: int = 0
    memory: int = 0                                # activation bytes per sample

    @property
    def module_path(self) -> str:
        """The dotted PyTorch module path: 'stage2/conv_1' -> 'stage2.conv_1'."""
        return self.name.replace("/", ".")

    def state_keys(self) -> list:
        """Checkpoint keys of this node's parameters and buffers, PyTorch-style."""
        return [f"{self.module_path}.{t.name}" for t in (*self.params, *self.buffers)]

    @property
    def param_count(self) -> int:
        from .dims import numel
        return sum(numel(t.shape) for t in self.params)

    @property
    def activation(self) -> str | None:
        act = self.attrs.get("activation")
        return None if act in (None, "none", "identity") else act


@dataclass
class Graph:
    """A whole network: nodes in topological order, named inputs and outputs, and run settings."""

    name: str
    nodes: dict                          # name -> Node, topological order
    inputs: list                         # names of 'input' nodes
    outputs: list                        # names of output nodes
    description: str = ""
    train: dict = field(default_factory=dict)
    pretrain: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)   # block type -> BlockDef
    vars: dict = field(default_factory=dict)
    source: str = ""                     # spec path
    source_hash: str = ""

    def __iter__(self):
        return iter(self.nodes.values())

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def layers(self) -> list:
        """Every node but the graph inputs, in topological order."""
        return [n for n in self.nodes.values() if n.op != "input"]

    def consumers(self) -> dict:
        out = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for source in node.inputs:
                out[source].append(node.name)
        return out

    @property
    def total_params(self) -> int:
        return sum(n.param_count for n in self.nodes.values())

    @property
    def total_flops(self) -> int:
        return sum(n.flops for n in self.nodes.values())

    def state_layout(self) -> dict:
        """Checkpoint key -> (shape, trainable) for every parameter and buffer, in order."""
        out = {}
        for node in self.nodes.values():
            for tensor in (*node.params, *node.buffers):
                out[f"{node.module_path}.{tensor.name}"] = (tuple(tensor.shape), tensor.trainable)
        return out
