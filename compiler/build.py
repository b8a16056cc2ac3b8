"""Spec -> Graph IR: validate every layer's attributes against its registry entry and order the nodes."""
from __future__ import annotations

from netspec.errors import Collector, did_you_mean

from . import fixed, registry
from .ir import Graph, Node
from .registry import Activation, AttrError


def validate_attrs(layer_type, decl, errors: Collector) -> dict | None:
    """Typed attributes with defaults filled, or None when any is wrong (each fault reported)."""
    out, ok = fixed.read(decl, errors)
    reported = set()   # attrs whose fault is already reported: no 'missing required' for them
    for key, value in decl.attrs.items():
        if key in fixed.COMMON:
            continue
        attr = layer_type.attr(key)
        key_pos = decl.attr_pos.get(f"@{key}", decl.pos)
        if attr is None:
            names = layer_type.attr_names()
            hint = did_you_mean(key, [*names, *(a for at in layer_type.attrs for a in at.aliases)])
            if hint:
                meant = layer_type.attr(hint.split("'")[1])
                reported.add(meant.name if meant else None)
            errors.add(key_pos, f"unknown attribute '{key}'", decl.name, layer_type.name,
                       hint or (f"{layer_type.name} takes: {', '.join(names)}" if names else
                                f"{layer_type.name} takes no attributes"))
            ok = False
            continue
        if attr.name in out:
            errors.add(key_pos, f"'{attr.name}' is given twice (as '{key}' too)", decl.name, layer_type.name,
                       "keep one of them")
            ok = False
            continue
        reported.add(attr.name)
        if key in decl.faults:
            ok = False   # a var fault, already reported
            continue
        try:
            out[attr.name] = attr.coerce(value, layer_type.spatial_rank)
        except AttrError as exc:
            errors.add(decl.attr_pos.get(key, decl.pos), str(exc), decl.name, layer_type.name, exc.hint)
            ok = False
    for attr in layer_type.attrs:
        if attr.name in out or attr.name in reported:
            continue
        if attr.required:
            errors.add(decl.pos, f"missing required attribute '{attr.name}'", decl.name, layer_type.name,
                       f"add '{attr.name}: ...'" + (f" ({attr.doc})" if attr.doc else ""))
            ok = False
        elif attr.default is None:
            out[attr.name] = None
        else:
            out[attr.name] = attr.coerce(attr.default, layer_type.spatial_rank)
    if not ok:
        return None
    act = out.get("activation")
    if isinstance(act, Activation):          # a fused activation: its name here, its attrs beside it
        out["activation"], out["activation_attrs"] = act.type, dict(act.attrs)
    if layer_type.normalize:
        layer_type.normalize(out)
    return out


def _frozen(value):
    """A hashable stand-in for an attribute value (lists become tuples)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else (type(value), value)


def build(spec, errors: Collector) -> tuple[Graph, set]:
    """The IR graph of a spec, and the names of nodes that could not be built (already reported)."""
    nodes: dict[str, Node] = {}
    broken: set[str] = set()
    valid: dict = {}   # (type, attrs as written) -> typed attrs: the copies of a repeat validate once
    shared: dict = {}  # id(attrs dict) -> (it, type, typed attrs): a repeat's copies share one attrs dict
    for decl in spec.inputs:
        node = Node(decl.name, "input", {"shape": decl.shape, "dtype": decl.dtype}, [], decl.pos)
        node.dtype = decl.dtype
        nodes[decl.name] = node
    types: dict = {}
    for decl in spec.layers:
        layer_type = types.get(decl.type) or types.setdefault(decl.type, registry.lookup(decl.type))
        known = shared.get(id(decl.attrs))
        if known is not None and known[0] is decl.attrs and known[1] == decl.type and not decl.faults:
            attrs = known[2]
        else:
            attrs = _validated(layer_type, decl, errors, valid)
            if attrs is not None and not decl.faults:
                shared[id(decl.attrs)] = (decl.attrs, decl.type, attrs)
        attrs = dict(attrs) if attrs is not None else None
        count = len(decl.inputs)
        if count < layer_type.min_inputs or count > layer_type.max_inputs:
            if layer_type.max_inputs == 1:
                msg, hint = f"takes one input, found {count}", "give 'from:' a single layer name"
            elif count > layer_type.max_inputs:
                msg, hint = f"takes at most {layer_type.max_inputs} inputs, found {count}", "list fewer in 'from:'"
            else:
                msg = f"takes at least {layer_type.min_inputs} inputs, found {count}"
                hint = "list them, e.g. 'from: [input, -1]'"
            errors.add(decl.attr_pos.get("from", decl.pos), msg, decl.name, layer_type.name, hint)
            attrs = None
        node = Node(decl.name, layer_type.name, attrs or {}, list(decl.inputs), decl.pos, decl.scope,
                    decl.attr_pos, decl.type)
        if decl.body is not None and attrs is not None:       # a cell: the sub-graph of one step
            from .cell import build_step
            node.attrs["step"], step_broken = build_step(decl, errors, build)
            if step_broken:
                attrs = None
        nodes[decl.name] = node
        if attrs is None or None in decl.inputs or not spec.broken.isdisjoint(decl.inputs):
            broken.add(decl.name)
    ordered = _topological(nodes, errors, broken)
    # train/pretrain stay the positioned mappings (dict subclasses) so that their faults name a line
    graph = Graph(spec.name, ordered, [d.name for d in spec.inputs], list(spec.outputs), spec.description,
                  _positioned(spec.train), _positioned(spec.pretrain), dict(spec.blocks), dict(spec.vars), spec.path,
                  spec.source_text)
    return graph, broken


def _validated(layer_type, decl, errors: Collector, valid: dict) -> dict | None:
    """validate_attrs, remembered in `valid` by type and attrs as written (faulty attrs: never remembered)."""
    try:
        key = (decl.type, *((name, _frozen(value)) for name, value in decl.attrs.items())) \
            if not decl.faults else None
        attrs = valid.get(key)
    except TypeError:   # an unhashable value (a mapping): validate it on its own
        key, attrs = None, None
    if attrs is None:
        attrs = validate_attrs(layer_type, decl, errors)
        if key is not None and attrs is not None:
            valid[key] = attrs
    return attrs


def _positioned(section) -> dict:
    return section if isinstance(section, dict) and hasattr(section, "pos") else dict(section or {})


def _topological(nodes: dict, errors: Collector, broken: set) -> dict:
    """Nodes in dependency order, declaration order kept where free; cycles are reported."""
    ordered: dict[str, Node] = {}
    remaining: dict[str, set] = {}
    for name, node in nodes.items():    # one pass settles a spec written in order (nearly every spec)
        if not remaining:
            for source in node.inputs:
                if source not in ordered and source in nodes:
                    break
            else:
                ordered[name] = node
                continue
        remaining[name] = {i for i in node.inputs if i in nodes}
    progress = True
    while remaining and progress:
        progress = False
        for name in list(remaining):
            if remaining[name] <= ordered.keys():
                ordered[name] = nodes[name]
                del remaining[name]
                progress = True
    if remaining:
        cycle = _find_cycle(remaining)
        first = nodes[cycle[0]]
        errors.add(first.pos, "layers form a cycle: " + " -> ".join([*cycle, cycle[0]]), first.name,
                   first.op, "a 'from' must name an earlier layer")
        for name in remaining:
            broken.add(name)
            ordered[name] = nodes[name]
    return ordered


def _find_cycle(remaining: dict) -> list:
    start = next(iter(remaining))
    path, seen = [start], {start}
    while True:
        following = [i for i in remaining[path[-1]] if i in remaining]
        if not following:
            return path
        nxt = following[0]
        if nxt in seen:
            return path[path.index(nxt):]
        path.append(nxt)
        seen.add(nxt)
