"""The nn.Module classes of a graph: one for the spec and one per distinct block configuration.

Block instances become nested submodules, so every state_dict key is `node.module_path + '.' + param`,
exactly the keys of `graph.state_layout()`. Identical block instances (same layers, attributes and
input shapes) share one class.
"""
from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, field

from netspec.errors import fmt_shape

from .lower import helper_sources, lower
from .pysource import comment, docstring

RESERVED = {"self", "torch", "nn", "F", "np", "super", *dir(builtins)}


@dataclass
class Scope:
    """The model itself (path '') or one block instance, with its direct items in order."""

    path: str
    block: str | None
    items: list = field(default_factory=list)      # Node | Scope
    inputs: list = field(default_factory=list)     # producer node names outside the scope
    outputs: list = field(default_factory=list)    # member node names used outside the scope
    members: set = field(default_factory=set)      # every node name inside, nested ones too
    class_name: str = ""

    def local(self, full_name: str) -> str:
        """A node's or sub-scope's name relative to this scope."""
        return full_name[len(self.path) + 1:] if self.path else full_name


def camel(name: str) -> str:
    """A class name from a spec or block name: ASCII letters and digits only ('my-net v2' -> 'MyNetV2')."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in name).split()
    text = "".join(word[:1].upper() + word[1:] for word in words)
    return text if text[:1].isalpha() and not keyword.iskeyword(text) else f"Net{text}"


def build_tree(graph) -> Scope:
    """Group the graph's layers by block instance, keeping topological order."""
    root = Scope("", None)
    scopes = {"": root}
    for node in graph.layers():
        parent = root
        for scope in node.scope:
            if scope.path not in scopes:
                child = Scope(scope.path, scope.block)
                scopes[scope.path] = child
                parent.items.append(child)
            parent = scopes[scope.path]
        parent.items.append(node)
    consumers = graph.consumers()
    _fill_edges(root, graph, consumers)
    return root


def live_nodes(graph, outputs=None, members=None) -> set:
    """Nodes that `outputs` (default: the graph's) depend on, within `members` when given; the others keep
    their parameters but are not computed."""
    live, stack = set(), list(graph.outputs if outputs is None else outputs)
    while stack:
        name = stack.pop()
        if name not in live and name in graph.nodes and (members is None or name in members):
            live.add(name)
            stack.extend(graph[name].inputs)
    return live


def _fill_edges(scope: Scope, graph, consumers) -> None:
    for item in scope.items:
        if isinstance(item, Scope):
            _fill_edges(item, graph, consumers)
            scope.members |= item.members
        else:
            scope.members.add(item.name)
    if not scope.path:
        scope.inputs = list(graph.inputs)
        scope.outputs = list(graph.outputs)
        return
    for name in _ordered_members(scope):
        for source in graph[name].inputs:
            if source not in scope.members and source not in scope.inputs:
                scope.inputs.append(source)
        used_outside = any(c not in scope.members for c in consumers[name]) or name in graph.outputs
        if used_outside:
            scope.outputs.append(name)
    if not scope.outputs:     # an instance nothing reads: its class still returns its last layer, like its siblings
        scope.outputs = [list(_ordered_members(scope))[-1]]


def _ordered_members(scope: Scope):
    for item in scope.items:
        if isinstance(item, Scope):
            yield from _ordered_members(item)
        else:
            yield item.name


class Namer:
    """Valid, unique Python identifiers for the local variables of one forward()."""

    def __init__(self):
        self.used = {*RESERVED, *helper_sources()}

    def take(self, wanted: str) -> str:
        name = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in wanted) or "x"
        if name[0].isdigit() or keyword.iskeyword(name):
            name = "_" + name
        candidate, count = name, 1
        while candidate in self.used:
            count += 1
            candidate = f"{name}_{count}"
        self.used.add(candidate)
        return candidate


def attribute(name: str) -> str:
    """How a parent refers to its submodule `name` (`self._modules['...']` unless a plain ASCII identifier:
    Python NFKC-normalises other identifiers, which would change the state_dict key)."""
    return "self" + _child(name)


def _child(name: str) -> str:
    if name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and name not in _module_attributes():
        return f".{name}"
    return f"._modules[{name!r}]"


def _module_attributes() -> set:
    """Names nn.Module itself defines: a submodule of that name cannot be a plain attribute."""
    try:
        from torch import nn
        return set(dir(nn.Module))
    except ImportError:     # generating code needs no torch; fall back to the common ones
        return {"forward", "training", "parameters", "modules", "state_dict", "cuda", "to", "eval", "train",
                "type", "float", "double", "half", "apply", "children", "buffers", "zero_grad", "named_modules"}


class ModelEmitter:
    """Writes the class definitions of a graph (blocks first, then the model class)."""

    def __init__(self, graph, class_name: str | None = None, reserved=()):
        """reserved: names the rest of the generated file defines at top level (classes must not shadow them)."""
        self.graph = graph
        self.root = build_tree(graph)
        self.classes: dict = {}            # class body -> (class name, [scopes using it]), in definition order
        self.helpers: set = set()
        self.taken = {*RESERVED, *reserved, *helper_sources()}
        self.root.class_name = class_name or self._unique(camel(graph.name))
        self.live = live_nodes(graph)

    def _unique(self, base: str) -> str:
        name, count = base, 1
        while name in self.taken:
            count += 1
            name = f"{base}{count}"
        self.taken.add(name)
        return name

    def emit(self) -> str:
        self._class_of(self.root)
        helpers = [helper_sources()[name].strip() for name in sorted(self.helpers)]
        bodies = [self._class_source(name, body, scopes) for body, (name, scopes) in self.classes.items()]
        return "\n\n\n".join(helpers + bodies)

    def _class_of(self, scope: Scope) -> str:
        """The class name of a scope; instances whose code would be identical share one class."""
        for item in scope.items:
            if isinstance(item, Scope):
                item.class_name = self._class_of(item)
        body = self._body(scope)
        if body in self.classes:
            self.classes[body][1].append(scope)
            return self.classes[body][0]
        name = scope.class_name or self._unique(camel(scope.block))
        self.classes[body] = (name, [scope])
        return name

    def _body(self, scope: Scope) -> str:
        """__init__ and forward of a scope's class (everything but the class line and docstring)."""
        init, forward = [], []
        # liveness within the scope: a block's class serves all its instances, read or not
        live = self.live if not scope.path else live_nodes(self.graph, scope.outputs, scope.members)
        namer = Namer()
        var = {}
        params = []
        for source in scope.inputs:
            wanted = "x" if (len(scope.inputs) == 1 and (scope.path or source == "input")) else \
                source.rsplit("/", 1)[-1]
            var[source] = namer.take(wanted)
            params.append(var[source])
        for item in scope.items:
            if isinstance(item, Scope):
                local = scope.local(item.path)
                ref = attribute(local)
                init.append(f"{ref} = {item.class_name}()")
                if not any(o in live for o in item.outputs):
                    forward.append(f"# {comment(local)}: no output depends on it (its parameters are kept)")
                    continue
                args = ", ".join(var[s] for s in item.inputs)
                if len(item.outputs) == 1:
                    var[item.outputs[0]] = namer.take(local)
                else:
                    for out in item.outputs:
                        var[out] = namer.take(f"{local}_{item.local(out).replace('/', '_')}")
                forward.append(f"{', '.join(var[o] for o in item.outputs)} = {ref}({args})")
                continue
            local = scope.local(item.name)
            lowered = lower(item)
            self.helpers.update(lowered.helpers)
            ref = attribute(local)
            if lowered.module is not None:
                init.append(f"{ref} = {lowered.module}")
                init.extend(line.format(m=ref) for line in lowered.init)
            if item.name not in live:
                forward.append(f"# {comment(local)}: no output depends on it (its parameters are kept)")
                continue
            var[item.name] = namer.take(local)
            weights = [f"{_module_ref(scope, owner)}.weight" for owner in lowered.weights_of]
            forward.extend(lowered.forward(var[item.name], ref, [var[s] for s in item.inputs] + weights))
        forward.append(f"return {', '.join(var[o] for o in scope.outputs)}")
        lines = []
        if init:
            lines += ["    def __init__(self):", "        super().__init__()"] + [f"        {s}" for s in init] + [""]
        lines.append(f"    def forward(self, {', '.join(params)}):")
        lines += [f"        {s}" if s else "" for s in forward]
        return "\n".join(lines)

    def _class_source(self, name: str, body: str, scopes: list) -> str:
        return f"class {name}(nn.Module):\n    {docstring(self._docstring(scopes))}\n\n{body}"

    def _docstring(self, scopes: list) -> str:
        graph, scope = self.graph, scopes[0]
        params = sum(graph[n].param_count for n in scope.members)

        def shapes(s):
            return (", ".join(fmt_shape(graph[n].shape) for n in s.inputs) + " -> " +
                    ", ".join(fmt_shape(graph[n].shape) for n in s.outputs))
        if not scope.path:
            text = f"{graph.name}: {graph.description}" if graph.description else graph.name
            return f"{text}: {shapes(scope)} per sample, {params:,} parameters."
        uses = f"; used {len(scopes)} times" if len(scopes) > 1 else ""
        variants = {shapes(s) for s in scopes}
        shown = f" {shapes(scope)} per sample," if len(variants) == 1 else ""
        return f"Block '{scope.block}':{shown} {params:,} parameters{uses}."


def _module_ref(scope: Scope, name: str) -> str:
    """`self.a.b` for node `name` inside `scope` (tied weights must live in the same module or below)."""
    if scope.path and not name.startswith(scope.path + "/"):
        raise NotImplementedError(f"layer '{name}' lies outside block instance '{scope.path}': the torch backend "
                                  "ties weights only within one module")
    first, *rest = scope.local(name).split("/")
    return attribute(first) + "".join(_child(part) for part in rest)
