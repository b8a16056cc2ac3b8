"""The IR: a typed graph whose nodes are ops with validated attributes and whose edges are tensors."""
from __future__ import annotations

from netspec.errors import Pos
from netspec.record import FrozenRecord, Record

from .dims import numel


class BlockScope(FrozenRecord):
    """One enclosing block instance of a node: its full path ('stage2/branch1') and its block type."""

    def __init__(self, path: str, block: str, pos: Pos | None = None):
        self._init(path=path, block=block, pos=pos)


class TensorSpec(Record):
    """A named array a node owns: a parameter or a buffer, in PyTorch's layout."""

    def __init__(self, name: str, shape: tuple, trainable: bool = True, init=None):
        self.name = name          # local name, e.g. 'weight', 'weight_ih_l0'
        self.shape = shape
        self.trainable = trainable
        self.init = init          # a compiler.registry.Init from the layer type's schema
        self.clip = None          # (low, high): clamped to after each optimizer step (a binary layer's weight)
        self.bits = 32            # bits per value in a deployed model: 1 for a binary layer's weight


class Node(Record):
    """One op. `inputs` name producer nodes; shape inference fills in the rest."""

    def __init__(self, name: str, op: str, attrs: dict, inputs: list, pos: Pos | None = None, scope: tuple = (),
                 attr_pos: dict | None = None, type_as_written: str = ""):
        self.name = name
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.pos = pos
        self.scope = scope                       # enclosing BlockScopes, outermost first
        self.attr_pos = {} if attr_pos is None else attr_pos
        self.type_as_written = type_as_written
        # filled by shape inference
        self.in_shapes: list = []
        self.shape: tuple | None = None
        self.dtype = "float32"
        self.params: list = []                   # [TensorSpec] trainable
        self.buffers: list = []                  # [TensorSpec] state (running stats)
        self.flops = 0
        self.memory = 0                          # activation bytes per sample

    @property
    def module_path(self) -> str:
        """The dotted PyTorch module path: 'stage2/conv_1' -> 'stage2.conv_1'."""
        return self.name.replace("/", ".")

    def state_keys(self) -> list:
        """Checkpoint keys of this node's parameters and buffers, PyTorch-style."""
        return [f"{self.module_path}.{t.name}" for t in (*self.params, *self.buffers)]

    @property
    def param_count(self) -> int:
        return sum(numel(t.shape) for t in self.params)

    @property
    def param_bits(self) -> int:
        """Bits the parameters take deployed: 32 per value, 1 per binary weight."""
        return sum(numel(t.shape) * t.bits for t in self.params)

    @property
    def activation(self) -> str | None:
        """The fused activation's type name (`activation:` on a layer), or None."""
        act = self.attrs.get("activation")
        return None if act in (None, "none", "identity") else act

    @property
    def activation_attrs(self) -> dict:
        """The fused activation's attributes, defaults filled (`{type: leaky_relu, slope: 0.2}` -> slope)."""
        return self.attrs.get("activation_attrs", {})


class Graph(Record):
    """A whole network: nodes in topological order, named inputs and outputs, and run settings."""

    def __init__(self, name: str, nodes: dict, inputs: list, outputs: list, description: str = "",
                 train: dict | None = None, pretrain: dict | None = None, blocks: dict | None = None,
                 vars: dict | None = None, source: str = "", source_text: str = ""):
        self.name = name
        self.nodes = nodes                   # name -> Node, topological order
        self.inputs = inputs                 # names of 'input' nodes
        self.outputs = outputs               # names of output nodes
        self.description = description
        self.train = {} if train is None else train
        self.pretrain = {} if pretrain is None else pretrain
        self.blocks = {} if blocks is None else blocks   # block type -> BlockDef
        self.vars = {} if vars is None else vars
        self.source = source                 # spec path
        self.source_text = source_text       # the spec file's text, for `source_hash`

    @property
    def source_hash(self) -> str:
        """The first 16 hex digits of the spec text's SHA-256 ('' when built without a file)."""
        if not self.source_text:
            return ""
        import hashlib  # on use: `netspec check` never needs it, and it costs start-up time
        return hashlib.sha256(self.source_text.encode()).hexdigest()[:16]

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
    def total_param_bits(self) -> int:
        return sum(n.param_bits for n in self.nodes.values())

    @property
    def total_flops(self) -> int:
        return sum(n.flops for n in self.nodes.values())

    def param_clips(self) -> dict:
        """Checkpoint key -> (low, high) for every trainable parameter clamped after each step (binary weights)."""
        return {f"{node.module_path}.{t.name}": t.clip for node in self.nodes.values() for t in node.params
                if t.clip is not None and t.trainable}

    def state_layout(self) -> dict:
        """Checkpoint key -> (shape, trainable) for every parameter and buffer, in order."""
        out = {}
        for node in self.nodes.values():
            for tensor in (*node.params, *node.buffers):
                out[f"{node.module_path}.{tensor.name}"] = (tuple(tensor.shape), tensor.trainable)
        return out
