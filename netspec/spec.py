"""Spec loading: vars, blocks, repeat and `from` references expanded into a flat layer list.

Every declaration keeps the file position of the YAML that produced it, so later stages
(shape inference, backends) can report faults where the user wrote them.
"""
from __future__ import annotations

import re

from compiler import registry
from compiler.dims import parse_dim
from compiler.fixed import COMMON as COMMON_KEYS
from compiler.ir import BlockScope

from .blockcopy import BlockCopies
from .errors import Collector, Diagnostic, Pos, SpecError, did_you_mean, shown
from .expr import FAULT, ExprError, FaultyVar, has_placeholder, substitute
from .gcpause import paused
from .record import Record
from .yamlpos import MAX_DEPTH, YMap, YSeq, load_yaml_file, load_yaml_text

TOP_KEYS = ("netspec", "name", "description", "vars", "input", "inputs", "layers", "blocks",
            "train", "pretrain", "output", "outputs", "networks")
LAYER_KEYS = ("type", "name", "from", "repeat")
BLOCK_KEYS = ("params", "inputs", "layers", "output", "description", "state", "update")
CELL_KEYS = ("return_sequences", "bidirectional", "reverse", "initial_state")   # a cell use's own attrs
MAX_SPLIT = 1024                  # outputs of one split layer (name.0 ... name.N-1)
INPUT_KEYS = ("shape", "dtype", "description")
DTYPES = ("float32", "float64", "int64", "int32")
FORMAT_VERSION = 1
MAX_REPEAT = 10_000
MAX_LAYERS = 200_000
MAX_NAME = 128                     # characters in a layer's own name or the spec's name
MAX_PATH = 1024                    # characters in a layer's full name (block instances joined by '/')
MAX_EXPANSION = 20_000_000         # characters that ${...} substitution may read and write in all
SPEC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
RESERVED_NAMES = {"input", "forward", "training", "parameters", "modules", "state_dict", "cuda", "to",
                  "eval", "train", "type", "float", "double", "half", "apply", "children", "buffers"}


class InputDecl(Record):
    def __init__(self, name: str, shape: tuple, dtype: str, pos: Pos):
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.pos = pos


class BlockDef(Record):
    def __init__(self, name: str, params: YMap, layers: YSeq, pos: Pos, output: str | None = None,
                 description: str = "", inputs: tuple = (), state: YMap | None = None, update: YMap | None = None):
        self.state = state              # a cell's {state name: per-sample shape} (None: not a cell)
        self.update = update            # a cell's {state name: the layer holding its next value}
        self.name = name
        self.params = params
        self.layers = layers
        self.pos = pos
        self.output = output
        self.description = description
        self.inputs = inputs            # names of a several-input block's inputs (`inputs: [a, b]`); () for one


class CellBody(Record):
    """The expanded body of one cell use: its layers (full names under `prefix`), per-sample state shapes,
    the layer holding each state's next value, and the step's output layer."""

    def __init__(self, block: str, prefix: str, layers: list, state: dict, update: dict, output: str,
                 state_pos: dict):
        self.block = block
        self.prefix = prefix
        self.layers = layers
        self.state = state
        self.update = update
        self.output = output
        self.state_pos = state_pos


class LayerDecl(Record):
    """One layer after expansion: full name, type as written, evaluated attrs, resolved inputs (a cell use also
    carries its expanded body). The copies of a repeat share one attrs dict: read it, never write it."""

    def __init__(self, name: str, type: str, attrs: dict, attr_pos: dict, inputs: list, pos: Pos,
                 scope: tuple = (), faults: frozenset = frozenset(), body: CellBody | None = None):
        self.body = body
        self.name = name
        self.type = type
        self.attrs = attrs
        self.attr_pos = attr_pos
        self.inputs = inputs
        self.pos = pos
        self.scope = scope
        self.faults = faults     # attrs whose value had a fault, already reported


class Spec(Record):
    def __init__(self, path: str, name: str, description: str, vars: dict, inputs: list, layers: list,
                 outputs: list, blocks: dict, train: dict | None = None, pretrain: dict | None = None,
                 source_text: str = "", raw: YMap | None = None, broken: set | None = None,
                 diagnostics: list | None = None):
        self.path = path
        self.name = name
        self.description = description
        self.vars = vars
        self.inputs = inputs
        self.layers = layers
        self.outputs = outputs
        self.blocks = blocks
        self.train = {} if train is None else train
        self.pretrain = {} if pretrain is None else pretrain
        self.source_text = source_text
        self.raw = raw
        self.broken = set() if broken is None else broken             # refs to layers that had faults
        self.diagnostics = [] if diagnostics is None else diagnostics  # faults found while expanding


class _Scope:
    """Names visible while expanding one layer list (the top level or one block instance)."""

    def __init__(self, prefix: str, input_ref: str | None, scope: tuple, variables: dict):
        self.prefix = prefix
        self.input_ref = input_ref
        self.scope = scope
        self.vars = variables
        self.local: dict[str, str] = {}
        self.order: list[str | None] = []
        self.pending: list = []   # (decl, index into decl.inputs, raw ref, pos, entry index)


class _Expander:
    def __init__(self, raw: YMap, path: str, overrides: dict | None):
        self.raw, self.path = raw, path
        self.errors = Collector()
        self.overrides = dict(overrides or {})
        self.layers: list[LayerDecl] = []
        self.aliases: dict[str, tuple] = {}   # alias -> (target, pos)
        self.full_names: set[str] = set()
        self.splits: dict[str, int] = {}          # a split layer's name -> its part count (parts: name.0, ...)
        self.inputs: list[InputDecl] = []
        self.blocks: dict[str, BlockDef] = {}
        self.global_vars: dict = {}
        self.broken: set[str] = set()
        self.too_many = False   # the layer bound was passed (and reported)
        self.expansion = 0      # characters ${...} substitution has read and written so far
        self.over_budget = False
        self.memo: dict = {}    # id(vars) -> (vars, {text: value}): a block's instances share their work
        self.scope_vars: dict = {}   # (block, params) -> the vars dict its instances share
        self.templates: dict = {}    # (id(entry), index, id(vars)) -> (vars, what the entry makes there)
        self.entries: dict = {}      # id(layer list) -> (list, [(entry, pos)] with bare names as mappings)
        self.cell_bodies: list = []  # the layer lists of cell bodies (their references resolve like the rest)
        self.path_refs = 0           # references resolved by full path ('stage1/conv_1'): not copied with a block
        self.copies = BlockCopies(LayerDecl, MAX_LAYERS, MAX_PATH)

    # ---- helpers -------------------------------------------------------------------------
    def fail(self, pos, message, hint=None, layer=None, layer_type=None):
        self.errors.add(pos, message, layer, layer_type, hint)

    def subst(self, value, variables, pos, layer=None, layer_type=None):
        """Substitute vars recursively; on a fault report it and return FAULT."""
        try:
            return self._subst(value, variables, pos)
        except FaultyVar:
            return FAULT
        except ExprError as exc:
            if not self.over_budget:   # past the budget every substitution fails: report that once
                self.fail(getattr(exc, "pos", pos), str(exc), exc.hint, layer, layer_type)
            self.over_budget = self.expansion > MAX_EXPANSION
            return FAULT

    def substitute(self, text: str, variables):
        """One string's substitution, charged to the spec's expansion budget (repeats are remembered)."""
        known = self.memo.get(id(variables))
        if known is None:
            known = self.memo[id(variables)] = (variables, {})
        if text in known[1]:
            return known[1][text]
        if self.expansion > MAX_EXPANSION:
            raise ExprError(f"the spec's ${{...}} expansions read and write more than {MAX_EXPANSION:,} "
                            "characters in all", "vars, blocks and repeat multiply; simplify the expressions")
        value = known[1][text] = substitute(text, variables)
        self.expansion += len(text) + (len(value) if isinstance(value, str) else 0)
        return value

    def _subst(self, value, variables, pos):
        if isinstance(value, YMap):
            out = YMap()
            out.pos, out.key_pos, out.value_pos = value.pos, value.key_pos, value.value_pos
            for key, item in value.items():
                out[key] = self._subst_at(item, variables, value.pos_of(key))
            return out
        if isinstance(value, YSeq):
            out = YSeq(self._subst_at(item, variables, value.pos_of(i)) for i, item in enumerate(value))
            out.pos, out.item_pos = value.pos, value.item_pos
            return out
        if has_placeholder(value):
            return self.substitute(value, variables)
        return value

    def _subst_at(self, value, variables, pos):
        try:
            return self._subst(value, variables, pos)
        except ExprError as exc:
            if not hasattr(exc, "pos"):
                exc.pos = pos
            raise

    # ---- top level -----------------------------------------------------------------------
    def run(self) -> Spec:
        raw = self.raw
        if not isinstance(raw, YMap):
            raise SpecError([Diagnostic(getattr(raw, "pos", Pos(self.path, 1, 1)),
                                        "a spec must be a mapping with name:, input: and layers:",
                                        hint="start with 'name:', 'input:' and 'layers:'")])
        self.misspelt = set()   # required top-level keys written with a typo (reported once, as the typo)
        for key in raw:
            if key not in TOP_KEYS:
                hint = did_you_mean(key, TOP_KEYS)
                if hint:
                    self.misspelt.add(hint.split("'")[1])
                self.fail(raw.key_pos[key], f"unknown top-level key '{key}'",
                          hint or f"allowed: {', '.join(TOP_KEYS)}")
        version = raw.get("netspec", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            self.fail(raw.pos_of("netspec"), f"format version {version!r} is not supported; this netspec reads "
                      f"version {FORMAT_VERSION}", "write 'netspec: 1'")
        name = self.read_name()
        variables = self.global_vars = self.read_vars()
        self.read_inputs(variables)
        self.read_blocks()
        layers = raw.get("layers")
        if not isinstance(layers, YSeq) or not layers:
            if "layers" not in self.misspelt:
                self.fail(raw.pos_of("layers") if "layers" in raw else raw.pos,
                          "the spec needs a non-empty 'layers:' list", "add 'layers:' with at least one layer")
            layers = YSeq()
            layers.pos, layers.item_pos = raw.pos, []
        declared = [*(i.name for i in self.inputs), *sorted(self.broken)]
        default_input = declared[0] if len(declared) == 1 else None
        top = _Scope("", default_input, (), variables)
        out = self.expand(layers, top, stack=())
        if self.too_many:   # the rest would only repeat the work on a truncated network
            raise SpecError(self.errors.diagnostics)
        outputs = self.read_outputs(top, out)
        resolve = self.resolve_aliases()
        # a block's name stands for its output; '!name': a faulty layer or input, already reported
        outputs = [f"!{name}" if name in self.broken else resolve(name, raw.pos, None) or f"!{name}"
                   for name in outputs]
        description = raw.get("description", "")
        train = self.subst(raw.get("train", YMap()), variables, raw.pos_of("train"))
        pretrain = self.subst(raw.get("pretrain", YMap()), variables, raw.pos_of("pretrain"))
        for section, value in (("train", train), ("pretrain", pretrain)):
            if not isinstance(value, dict) and value is not None and value is not FAULT:
                self.fail(raw.pos_of(section), f"'{section}:' must be a mapping, found {shown(value)}")
        return Spec(self.path, str(name), str(description or ""), variables, self.inputs, self.layers, outputs,
                    self.blocks, train if isinstance(train, dict) else {},
                    pretrain if isinstance(pretrain, dict) else {}, raw=raw, broken=self.broken,
                    diagnostics=self.errors.diagnostics)

    def read_name(self) -> str:
        """The spec's name: an identifier-like word that is safe as a file name."""
        raw = self.raw
        name = raw.get("name")
        if name is None or (isinstance(name, str) and not name.strip()):
            if "name" not in self.misspelt:
                self.fail(raw.pos_of("name") if "name" in raw else raw.pos, "the spec needs a 'name:'",
                          "add e.g. 'name: lenet5'")
            return "unnamed"
        if not isinstance(name, str) or not SPEC_NAME.fullmatch(name) or ".." in name or len(name) > MAX_NAME:
            self.fail(raw.pos_of("name"), f"the spec's name {shown(name)} must be a word of letters, digits, "
                      f"'_', '-' and '.' (no '/', no '..', at most {MAX_NAME} characters)",
                      "e.g. 'name: resnet18'; it names the files that netspec writes")
            return "unnamed"
        return name

    def read_vars(self) -> dict:
        raw_vars = self.raw.get("vars", YMap())
        if not isinstance(raw_vars, dict):
            self.fail(self.raw.pos_of("vars"), "'vars:' must be a mapping of names to values",
                      "write e.g. 'vars: {width: 64}'")
            raw_vars = {}
        for key in self.overrides:
            if key not in raw_vars:
                self.fail(Pos(self.path), f"--set {key}=...: the spec has no var '{key}'",
                          did_you_mean(key, raw_vars) or
                          (f"vars are: {', '.join(map(str, raw_vars))}" if raw_vars else "the spec has no vars"))
        variables: dict = {}
        for key, value in raw_vars.items():
            pos = raw_vars.pos_of(key) if isinstance(raw_vars, YMap) else Pos(self.path)
            if not isinstance(key, str) or not key.isidentifier():
                self.fail(pos, f"var name {key!r} is not an identifier", "use letters, digits and _")
                continue
            value = self.overrides.get(key, value)
            if isinstance(value, (YMap, YSeq)) or value is None:
                found = "null" if value is None else "a mapping" if isinstance(value, YMap) else "a list"
                self.fail(pos, f"var '{key}' must be a number, a bool or a string, found {found}")
                variables[key] = FAULT
                continue
            variables[key] = self.subst(value, variables, pos)
        return variables

    def read_inputs(self, variables) -> None:
        raw = self.raw
        if "input" in raw and "inputs" in raw:
            self.fail(raw.key_pos["inputs"], "give either 'input:' or 'inputs:', not both")
        if "input" in raw:
            declared = {"input": (raw["input"], raw.pos_of("input"), raw.key_pos["input"])}
        elif "inputs" in raw:
            value = raw["inputs"]
            if not isinstance(value, YMap) or not value:
                self.fail(raw.pos_of("inputs"), "'inputs:' must map names to {shape: [...]}",
                          "write e.g. 'inputs: {image: {shape: [3, 224, 224]}}'")
                return
            declared = {key: (value[key], value.pos_of(key), value.key_pos[key]) for key in value}
        else:
            if not self.misspelt & {"input", "inputs"}:
                self.fail(raw.pos, "the spec needs an 'input:' with a shape",
                          "add e.g. 'input: {shape: [1, 28, 28]}'")
            self.broken.add("input")
            return
        for name, (decl, pos, key_pos) in declared.items():
            self.broken.add(str(name))   # until it is read without a fault
            if not isinstance(name, str) or not name.isidentifier() or len(name) > MAX_NAME:
                self.fail(key_pos, f"input name {_found(name)} is not an identifier (letters, digits and _, at most "
                          f"{MAX_NAME} characters)", "e.g. 'inputs: {image: {shape: [3, 32, 32]}}'")
                continue
            if isinstance(decl, YSeq):   # shorthand: input: [1, 28, 28]
                decl = {"shape": decl}
            if not isinstance(decl, dict) or "shape" not in decl:
                self.fail(pos, f"input '{name}' needs a shape", "write e.g. '{shape: [1, 28, 28]}'")
                continue
            for key in decl:
                if key not in INPUT_KEYS:
                    self.fail(decl.key_pos.get(key, pos) if isinstance(decl, YMap) else pos,
                              f"unknown key '{key}' in input '{name}'",
                              did_you_mean(key, INPUT_KEYS) or f"allowed: {', '.join(INPUT_KEYS)}")
            shape_pos = decl.pos_of("shape") if isinstance(decl, YMap) else pos
            raw_shape = self.subst(decl["shape"], variables, shape_pos)
            if raw_shape is FAULT:
                continue
            if not isinstance(raw_shape, list) or not raw_shape:
                self.fail(shape_pos, f"input '{name}' shape must be a non-empty list of sizes, found {shown(raw_shape)}",
                          "write e.g. 'shape: [1, 28, 28]' (per sample, channels first, no batch dim)")
                continue
            shape = []
            for index, dim in enumerate(raw_shape):
                dim_pos = raw_shape.pos_of(index) if isinstance(raw_shape, YSeq) else shape_pos
                try:
                    parsed = parse_dim(dim)
                except ValueError as exc:
                    self.fail(dim_pos, f"input '{name}': {exc}; found {shown(dim)}")
                    continue
                if isinstance(parsed, int) and not 0 < parsed <= 2 ** 31 - 1:
                    self.fail(dim_pos, f"input '{name}': dim {index} must be positive and below 2^31, found {parsed}")
                    continue
                shape.append(parsed)
            if len(shape) != len(raw_shape):
                continue
            dtype = decl.get("dtype", "float32")
            if dtype not in DTYPES:
                self.fail(decl.pos_of("dtype") if isinstance(decl, YMap) else pos,
                          f"input '{name}' dtype must be one of {', '.join(DTYPES)}; found {shown(dtype)}",
                          did_you_mean(str(dtype), DTYPES))
                continue
            self.inputs.append(InputDecl(name, tuple(shape), dtype, pos))
            self.full_names.add(name)
            self.broken.discard(name)

    def read_blocks(self) -> None:
        raw_blocks = self.raw.get("blocks", YMap())
        if not isinstance(raw_blocks, YMap):
            self.fail(self.raw.pos_of("blocks"), "'blocks:' must map block names to {params:, layers:}")
            return
        for name, body in raw_blocks.items():
            pos = raw_blocks.pos_of(name)
            if not isinstance(name, str) or not name.isidentifier():
                self.fail(pos, f"block name {name!r} is not an identifier")
                continue
            if registry.lookup(name):
                self.fail(raw_blocks.key_pos[name], f"block '{name}' has the name of a built-in layer type",
                          f"rename it, e.g. '{name}_block'")
                continue
            if not isinstance(body, YMap):
                self.fail(pos, f"block '{name}' must be a mapping with 'layers:' (and optional 'params:')")
                continue
            for key in body:
                if key not in BLOCK_KEYS:
                    self.fail(body.key_pos[key], f"unknown key '{key}' in block '{name}'",
                              did_you_mean(key, BLOCK_KEYS) or f"allowed: {', '.join(BLOCK_KEYS)}")
            params = body.get("params", YMap())
            if not isinstance(params, YMap):
                self.fail(body.pos_of("params"), f"'params' of block '{name}' must be a mapping of defaults")
                params = YMap()
                params.pos, params.key_pos, params.value_pos = pos, {}, {}
            layers = body.get("layers")
            if not isinstance(layers, YSeq) or not layers:
                self.fail(body.pos_of("layers") if "layers" in body else pos,
                          f"block '{name}' needs a non-empty 'layers:' list")
                continue
            output = body.get("output")
            if "output" in body and not isinstance(output, str):
                self.fail(body.pos_of("output"), f"'output' of block '{name}' must name one of its layers, "
                          f"found {shown(output)}")
                continue
            inputs = self.read_block_inputs(name, body)
            if inputs is None:
                continue
            state, update = self.read_cell(name, body)
            if state is False:
                continue
            self.blocks[name] = BlockDef(name, params, layers, pos, output if isinstance(output, str) else None,
                                         str(body.get("description", "")), inputs, state, update)

    def read_cell(self, name: str, body: YMap) -> tuple:
        """A cell block's `state:` and `update:` ((None, None) for a plain block; (False, None) on a fault)."""
        if "state" not in body:
            if "update" in body:
                self.fail(body.key_pos["update"], f"block '{name}' has 'update' but no 'state'",
                          "declare the state, e.g. 'state: {h: [64]}'")
                return False, None
            return None, None
        state, update = body["state"], body.get("update")
        if not isinstance(state, YMap) or not state or not all(isinstance(k, str) and k.isidentifier() and
                                                               k not in RESERVED_NAMES for k in state):
            self.fail(body.pos_of("state"), f"'state' of cell '{name}' must map state names to per-sample shapes, "
                      f"found {shown(state)}", "e.g. 'state: {h: [\"${hidden}\"]}'")
            return False, None
        if not isinstance(update, YMap) or set(update) != set(state) or not all(isinstance(v, str)
                                                                                for v in update.values()):
            missing = sorted(set(state) - set(update)) if isinstance(update, YMap) else sorted(state)
            self.fail(body.pos_of("update") if "update" in body else body.key_pos["state"],
                      f"cell '{name}' must say which layer updates every state with 'update:' "
                      f"(missing or wrong: {', '.join(missing) or shown(update)})",
                      "e.g. 'update: {" + next(iter(state)) + ": h_new}'")
            return False, None
        if len(body.get("inputs") or ()) > 1:
            self.fail(body.key_pos["inputs"], f"cell '{name}' reads one sequence; 'inputs' must be left out",
                      "seed states from other layers with 'initial_state: {h: layer}' where the cell is used")
            return False, None
        return state, update

    def read_block_inputs(self, name: str, body: YMap) -> tuple | None:
        """A block's `inputs: [a, b]`: distinct identifiers, addressable inside it ((): one input, `input`)."""
        if "inputs" not in body:
            return ()
        value = body["inputs"]
        pos = body.pos_of("inputs")
        names = value if isinstance(value, list) else None
        if not names or not all(isinstance(n, str) and n.isidentifier() for n in names) or len(set(names)) < len(
                names) or len(names) > 64:
            self.fail(pos, f"'inputs' of block '{name}' must list distinct input names, found {shown(value)}",
                      "e.g. 'inputs: [a, b]', used as {type: " + name + ", from: [x, y]}")
            return None
        if "input" in names or any(n in RESERVED_NAMES for n in names):
            self.fail(pos, f"'inputs' of block '{name}' uses a reserved name", "choose e.g. 'x' and 'skip'")
            return None
        return tuple(names)

    def read_outputs(self, top: _Scope, last: str | None) -> list:
        raw = self.raw
        if "output" in raw and "outputs" in raw:
            self.fail(raw.key_pos["outputs"], "give either 'output:' or 'outputs:', not both")
        key = "outputs" if "outputs" in raw else "output" if "output" in raw else None
        if key is None:
            return [last] if last else []
        value = raw[key]
        names = value if isinstance(value, list) else [value]
        if not names:
            self.fail(raw.pos_of(key), f"'{key}' lists no layer", "name the layer(s) the network returns, or "
                      f"leave '{key}' out to return the last layer")
        out = []
        for index, ref in enumerate(names):
            pos = value.pos_of(index) if isinstance(value, YSeq) else raw.pos_of(key)
            target = self.lookup_name(ref, top, pos, what=f"'{key}'")
            if target:
                out.append(target)
        return out

    # ---- layer lists ---------------------------------------------------------------------
    def expand(self, entries: YSeq, scope: _Scope, stack: tuple) -> str | None:
        """Expand one layer list; return the full name of its output."""
        previous = scope.input_ref
        for index, (entry, pos) in enumerate(self.mappings(entries)):
            if len(self.layers) > MAX_LAYERS:
                break
            out = self.expand_entry(entry, index, pos, previous, scope, stack)
            if out is None:   # a faulty layer: later layers that read it are skipped, not re-reported
                out = f"!{scope.prefix}{index}"
                self.broken.add(out)
            scope.order.append(out)
            previous = out
        self.resolve_pending(scope)
        return previous if entries else scope.input_ref

    def mappings(self, entries: YSeq) -> list:
        """(entry, its position) for a layer list, each bare type name as a mapping (made once per list, not
        per block instance)."""
        known = self.entries.get(id(entries))
        if known is None:
            known = self.entries[id(entries)] = (entries, [
                (_ymap({"type": entry}, entries.pos_of(index)) if isinstance(entry, str) else entry,
                 entries.pos_of(index)) for index, entry in enumerate(entries)])
        return known[1]

    def expand_entry(self, entry, index, pos, previous, scope: _Scope, stack) -> str | None:
        key = (id(entry), index, id(scope.vars))
        known = self.templates.get(key)
        if known is not None and known[0] is scope.vars:
            made = known[1]
        else:
            before = len(self.errors.diagnostics)
            made = self.template(entry, index, pos, scope)
            if made is not None and len(self.errors.diagnostics) == before:   # faults are reported per copy
                self.templates[key] = (scope.vars, made)
        if made is None:
            return None
        type_name, block, base, repeat, attrs, faults, attr_pos, parts = made
        plain = block is None and not parts   # copies after the first: each reads the one before it
        if plain and previous is not None and "from" not in entry:   # the common case: it reads the layer before
            out = self.plain_copies(previous, 1, attrs, made, entry, pos, scope)
            if out is not None and repeat > 1:
                scope.local[base] = out
            return out
        out = None
        for copy in range(1 if plain else repeat):
            local = base if repeat == 1 else f"{base}_{copy + 1}"
            full = self.claim(local, entry, pos, scope, type_name)
            if full is None:
                return None
            if copy == 0 and "from" in entry:
                refs = entry["from"]
                refs = self.subst(refs, scope.vars, entry.pos_of("from"), full, type_name)
                if refs is FAULT:
                    return None
                if refs is None:
                    self.fail(entry.pos_of("from"), "'from' needs a layer name, found null",
                              "name a layer, or leave 'from' out to read the previous layer", full, type_name)
                    return None
                from_pos = entry.pos_of("from")
                if isinstance(refs, dict):      # {name: layer}: inputs named for the layer (an expr's formula)
                    if not self.named_inputs(refs, registry.lookup(type_name), from_pos, full, type_name):
                        return None
                    attrs = {**attrs, "names": list(refs)}
                    ref_list = list(refs.values())
                    ref_pos = [refs.pos_of(key) if isinstance(refs, YMap) else from_pos for key in refs]
                else:
                    ref_list = list(refs) if isinstance(refs, list) else [refs]
                    ref_pos = [refs.pos_of(i) if isinstance(refs, YSeq) else from_pos for i in range(len(ref_list))]
            else:
                ref_list, ref_pos = [None], [entry.pos]
            source_default = previous if copy == 0 else out
            if block is not None and block.state is not None:
                if faults:
                    return None
                out = self.expand_cell(block, full, attrs, attr_pos, entry, scope, stack,
                                       ref_list, ref_pos, source_default, index)
            elif block is not None:
                if faults:
                    return None   # a block instance with a faulty param: reported, and not expanded
                out = self.expand_block(block, full, attrs, attr_pos, entry, scope, stack,
                                        ref_list, ref_pos, source_default, index)
            else:
                for part in range(parts) if parts else [None]:
                    name = full if part is None else f"{full}.{part}"
                    part_attrs = attrs if part is None else {**attrs, "index": part}
                    decl = LayerDecl(name, type_name, part_attrs, attr_pos, [None] * len(ref_list), entry.pos,
                                     scope.scope, faults)
                    self.layers.append(decl)
                    for slot, (ref, rpos) in enumerate(zip(ref_list, ref_pos)):
                        self.bind(decl.inputs, slot, ref, rpos, source_default, scope, index, name, type_name)
                    if part is not None:
                        scope.local[f"{local}.{part}"] = name
                        self.full_names.add(name)
                if parts:
                    self.splits[full] = parts
                out = full
        if plain and repeat > 1:
            out = self.plain_copies(out, 2, attrs, made, entry, pos, scope)
            if out is None:
                return None
        if repeat > 1:
            scope.local[base] = out   # the name of a repeated layer means its last copy
        return out

    def claim(self, local: str, entry, pos, scope: _Scope, type_name) -> str | None:
        """Register a layer's local name in its scope and return its full name (None: a fault, reported)."""
        if len(self.layers) > MAX_LAYERS:
            if not self.too_many:
                self.too_many = True
                self.fail(pos, f"the spec expands to more than {MAX_LAYERS:,} layers", "lower the repeat counts")
            return None
        full = scope.prefix + local
        if len(full) > MAX_PATH:
            self.fail(entry.pos, f"the layer's full name is longer than {MAX_PATH} characters ({full[:40]}...)",
                      "use shorter layer and block names", layer_type=type_name)
            return None
        if local in scope.local or full in self.full_names:
            self.fail(entry.pos_of("name") if "name" in entry else entry.pos,
                      f"duplicate layer name '{full}'", "give each layer a unique 'name'")
            return None
        scope.local[local] = full
        self.full_names.add(full)
        return full

    def plain_copies(self, out, first, attrs, made, entry, pos, scope: _Scope) -> str | None:
        """Copies `first` to `repeat` (counted from 1) of a plain layer (not a block, not a split), the first of
        them reading `out`, each later one the copy before it; all share `attrs` (expand_entry's loop, short)."""
        type_name, _, base, repeat, _, faults, attr_pos, _ = made
        layers, where, scopes = self.layers, entry.pos, scope.scope
        names = [base] if repeat == 1 else [f"{base}_{copy}" for copy in range(first, repeat + 1)]
        fulls = [scope.prefix + name for name in names]
        if (len(layers) + len(names) - 1 <= MAX_LAYERS and len(fulls[-1]) <= MAX_PATH and
                scope.local.keys().isdisjoint(names) and self.full_names.isdisjoint(fulls)):   # no fault: at once
            scope.local.update(zip(names, fulls))
            self.full_names.update(fulls)
            layers.extend(LayerDecl(full, type_name, attrs, attr_pos, [source], where, scopes, faults)
                          for full, source in zip(fulls, [out, *fulls[:-1]]))
            return fulls[-1]
        for name in names:       # a fault on the way: claim them one by one, as the general loop does
            full = self.claim(name, entry, pos, scope, type_name)
            if full is None:
                return None
            layers.append(LayerDecl(full, type_name, attrs, attr_pos, [out], where, scopes, faults))
            out = full
        return out

    def named_inputs(self, refs: dict, layer_type, pos, full, type_name) -> bool:
        """Whether `from` as a mapping suits this layer: a type that names its inputs, identifier keys."""
        if layer_type is None or layer_type.attr("names") is None:
            self.fail(pos, "'from' as a mapping {name: layer} names the inputs of an 'expr' layer; this layer "
                      "reads a layer name, a negative index or a list", "write e.g. 'from: [a, b]'", full, type_name)
            return False
        if not refs or not all(isinstance(key, str) and key.isidentifier() for key in refs):
            self.fail(pos, f"'from' as a mapping must map input names (identifiers) to layers, found {shown(refs)}",
                      "e.g. 'from: {z: gate, h: state}'", full, type_name)
            return False
        return True

    def split_parts(self, layer_type, attrs, pos) -> int | None:
        """How many outputs a `split` layer has (its parts become layers name.0, name.1, ...); 0 for other types
        and for a split whose attrs its schema will refuse (None: refused here, reported)."""
        if layer_type is None or layer_type.name != "split":
            return 0
        if "index" in attrs:
            self.fail(pos, "a split's 'index' is set for each of its parts", "read the parts as name.0, name.1, ...",
                      layer_type="split")
            return None
        sizes, parts = attrs.get("sizes"), attrs.get("parts", attrs.get("chunks"))
        count = len(sizes) if isinstance(sizes, list) else parts if sizes is None else None
        if count is None and sizes is None:
            count = 2
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            return 0
        if count > MAX_SPLIT:
            self.fail(pos, f"a split into {count} parts is more than the {MAX_SPLIT} allowed", layer_type="split")
            return None
        return count

    def template(self, entry, index, pos, scope: _Scope):
        """What an entry makes in a scope before its copies are named: (type, block, name, repeat, attrs,
        faulty attrs, attr positions, split parts), or None after reporting a fault. Instances with equal params
        share it."""
        if not isinstance(entry, YMap):
            self.fail(pos, f"a layer must be a type name or a mapping with 'type:', found {entry!r}")
            return None
        if "type" not in entry:
            hint = "write e.g. '{type: conv2d, filters: 6, kernel: 5}'"
            if len(entry) == 1:
                only = next(iter(entry))
                hint = f"write '{{type: {only}, ...}}' instead of '{only}: ...'"
            self.fail(entry.pos, "layer has no 'type'", hint)
            return None
        type_name = self.subst(entry["type"], scope.vars, entry.pos_of("type"))
        if not isinstance(type_name, str):
            if type_name is not FAULT:
                self.fail(entry.pos_of("type"), f"layer type must be a name, found {_found(type_name)}",
                          "write e.g. 'type: linear'")
            return None
        layer_type = registry.lookup(type_name)
        block = self.blocks.get(type_name)
        if layer_type is None and block is None:
            self.fail(entry.pos_of("type"), f"unknown layer type '{type_name}'",
                      did_you_mean(type_name, [*registry.all_type_names(), *self.blocks]) or
                      "see 'netspec check --list-types'")
            return None
        if type_name == "input":
            self.fail(entry.pos_of("type"), "'input' is not a layer type", "declare inputs under 'input:'/'inputs:'")
            return None
        base = self.subst(entry.get("name", f"{type_name}_{index + 1}"), scope.vars, entry.pos_of("name"))
        if base is FAULT or not self.valid_name(base, entry.pos_of("name"), type_name):
            return None
        repeat = self.read_repeat(entry, scope, base, type_name)
        if repeat is None:
            return None
        attrs, faults = {}, set()
        for key, value in entry.items():
            if key in LAYER_KEYS:
                continue
            if not isinstance(key, str):
                self.fail(entry.key_pos[key], f"attribute name {shown(key)} must be a name",
                          layer=scope.prefix + base)
                continue
            attrs[key] = self.subst(value, scope.vars, entry.pos_of(key), scope.prefix + base, type_name)
            if attrs[key] is FAULT:
                attrs[key] = None
                faults.add(key)
        attr_pos = {key: entry.pos_of(key) for key in attrs}
        attr_pos.update({f"@{key}": entry.key_pos[key] for key in entry.key_pos})
        parts = 0
        if block is None and not faults:
            parts = self.split_parts(layer_type, attrs, entry.pos)
            if parts is None:
                return None
        return type_name, block, base, repeat, attrs, frozenset(faults), attr_pos, parts

    def read_repeat(self, entry, scope, base, type_name):
        if "repeat" not in entry:
            return 1
        value = self.subst(entry["repeat"], scope.vars, entry.pos_of("repeat"), scope.prefix + base, type_name)
        if value is FAULT:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEAT:
            self.fail(entry.pos_of("repeat"), f"'repeat' must be an integer from 1 to {MAX_REPEAT}, "
                      f"found {_found(value)}",
                      layer=scope.prefix + base, layer_type=type_name)
            return None
        return value

    def valid_name(self, name, pos, type_name) -> bool:
        if isinstance(name, str) and len(name) > MAX_NAME:
            self.fail(pos, f"layer name {shown(name)} is longer than {MAX_NAME} characters", layer_type=type_name)
            return False
        if not isinstance(name, str) or not name.isidentifier():
            self.fail(pos, f"layer name {_found(name)} must be an identifier (letters, digits, _)",
                      "e.g. 'conv1' or 'stage2_block1'", layer_type=type_name)
            return False
        if name in RESERVED_NAMES:
            self.fail(pos, f"layer name '{name}' is reserved", f"use e.g. '{name}_layer'", layer_type=type_name)
            return False
        return True

    def bind(self, slots, slot, ref, pos, default, scope, index, layer, layer_type):
        """Fill slots[slot] with the full name `ref` points at (now, or when the scope is done)."""
        if ref is None:
            if default is None:
                hint = ("give the first layer 'from:' naming one of the inputs: " +
                        ", ".join(i.name for i in self.inputs)) if len(self.inputs) > 1 else None
                self.fail(pos, "layer has no input", hint, layer, layer_type)
                return
            slots[slot] = default
            return
        scope.pending.append((slots, slot, ref, pos, index, layer, layer_type))

    def resolve_pending(self, scope: _Scope) -> None:
        for slots, slot, ref, pos, index, layer, layer_type in scope.pending:
            if isinstance(ref, bool) or not isinstance(ref, (int, str)):
                self.fail(pos, f"'from' must be a layer name, a negative index or a list of them; found {_found(ref)}",
                          layer=layer, layer_type=layer_type)
            elif isinstance(ref, int):
                if ref >= 0 or index + ref < 0:
                    self.fail(pos, f"'from: {ref}' must be a negative index reaching back at most {index} "
                              f"layer(s) in this list", "use -1 for the previous layer, or a layer name",
                              layer, layer_type)
                else:
                    slots[slot] = scope.order[index + ref]
            else:
                target = self.lookup_name(ref, scope, pos, layer, layer_type)
                if target:
                    slots[slot] = target
        scope.pending.clear()

    def lookup_name(self, ref, scope: _Scope, pos, layer=None, layer_type=None, what="'from'") -> str | None:
        if not isinstance(ref, str):
            self.fail(pos, f"expected a layer name, found {_found(ref)}", layer=layer, layer_type=layer_type)
            return None
        if ref in scope.local:
            return scope.local[ref]
        if ref == "input" and scope.input_ref is not None:
            return scope.input_ref
        if not scope.prefix and any(i.name == ref for i in self.inputs):
            return ref
        if "/" in ref and ref in self.full_names:
            self.path_refs += 1
            return ref
        if ref == "input" and not scope.prefix and len(self.inputs) > 1:
            self.fail(pos, "'input' is ambiguous: the spec has several inputs", "name one of: " +
                      ", ".join(i.name for i in self.inputs), layer, layer_type)
            return None
        if not scope.prefix and ref in self.broken:
            return None   # a faulty input, already reported
        names = list(dict.fromkeys(list(scope.local) + (["input"] if scope.input_ref else []) +
                                   ([i.name for i in self.inputs] if not scope.prefix else [])))
        self.fail(pos, f"{what} names '{ref}', which is not a layer here",
                  did_you_mean(ref, names) or f"known: {', '.join(names[:12])}", layer, layer_type)
        return None

    # ---- blocks ------------------------------------------------------------------------
    def expand_block(self, block: BlockDef, full: str, attrs, attr_pos, entry, scope, stack,
                     ref_list, ref_pos, source_default, index) -> str | None:
        if block.name in stack:
            chain = " -> ".join([*stack, block.name])
            self.fail(entry.pos_of("type"), f"block '{block.name}' uses itself ({chain})",
                      "blocks cannot be recursive; unroll with 'repeat:'", full, block.name)
            return None
        if len(stack) >= MAX_DEPTH:
            self.fail(entry.pos_of("type"), f"blocks nested deeper than {MAX_DEPTH} levels "
                      f"({' -> '.join([*stack[:3], '...', block.name])})",
                      "flatten the structure: fewer blocks inside blocks", layer_type=block.name)
            return None
        wanted = max(1, len(block.inputs))
        if len(ref_list) != wanted:
            if wanted == 1:
                message, hint = f"block '{block.name}' takes one input, found {len(ref_list)}", None
            else:
                message = f"block '{block.name}' takes {wanted} inputs ({', '.join(block.inputs)}), found {len(ref_list)}"
                hint = f"give them in order: 'from: [{', '.join('...' for _ in block.inputs)}]'"
            self.fail(entry.pos_of("from") if "from" in entry else entry.pos, message, hint, full, block.name)
            return None
        params = self.block_params(block, full, attrs, attr_pos, entry)
        if params is None:
            return None
        input_alias = f"{full}/input"
        self.bind_alias(input_alias, ref_list[0], ref_pos[0], source_default, scope, index, full, block.name)
        inner = _Scope(full + "/", input_alias, (*scope.scope, BlockScope(full, block.name, entry.pos)),
                       self.block_vars(block.name, params))
        for slot, name in enumerate(block.inputs):      # `inputs: [a, b]`: a is the first input, b the second
            alias = input_alias if slot == 0 else f"{full}/{name}"
            if slot:
                self.bind_alias(alias, ref_list[slot], ref_pos[slot], None, scope, index, full, block.name)
            inner.local[name] = alias
        out = self.copies.replay(self, block.name, inner, stack)   # a copy of an earlier instance with these vars
        if out is None:
            mark = self.copies.mark(self)
            out = self.expand(block.layers, inner, (*stack, block.name))
            if block.output is not None:
                out = self.lookup_name(block.output, inner, block.pos, full, block.name)
            self.copies.record(self, block.name, inner, stack, mark, out)
        if out is not None:
            self.aliases[full] = (out, entry.pos)
        return full if out is not None else None

    def block_params(self, block: BlockDef, full: str, attrs, attr_pos, entry) -> dict | None:
        """A block instance's params: the block's defaults overridden by the use's attrs (None: a fault)."""
        params = {}
        global_vars = self.global_vars
        for key, value in block.params.items():
            params[key] = self.subst(value, global_vars, block.params.pos_of(key))
            if params[key] is FAULT:
                return None
        for key, value in attrs.items():
            if key not in block.params:
                known = [*block.params, *(CELL_KEYS if block.state is not None else ())]
                hint = did_you_mean(key, known) or (
                    f"its params are: {', '.join(known)}" if known else "it takes no params")
                if key in COMMON_KEYS:          # weights:, trainable: belong to one layer and its parameters
                    hint = (f"'{key}:' goes on a layer inside block '{block.name}'; to set it per use, give the "
                            f"block a param (e.g. params: {{p: ...}}, '{key}: ${{p}}' on the layer, 'p: ...' on the use)")
                self.fail(attr_pos.get(f"@{key}", entry.pos), f"block '{block.name}' has no param '{key}'", hint,
                          full, block.name)
                continue
            params[key] = value
        unset = [key for key, value in params.items() if value is None]
        if unset:
            self.fail(entry.pos, f"block '{block.name}' needs a value for param '{unset[0]}' (its default is null)",
                      f"write e.g. '{{type: {block.name}, {unset[0]}: ...}}'", full, block.name)
            return None
        return params

    def expand_cell(self, block: BlockDef, full: str, attrs, attr_pos, entry, scope, stack,
                    ref_list, ref_pos, source_default, index) -> str | None:
        """A cell use: one `cell` layer over the sequence, holding its body expanded once (the step)."""
        if block.name in stack:
            self.fail(entry.pos_of("type"), f"cell '{block.name}' uses itself", None, full, block.name)
            return None
        if len(ref_list) != 1:
            self.fail(entry.pos_of("from") if "from" in entry else entry.pos, f"cell '{block.name}' reads one "
                      f"sequence, found {len(ref_list)} inputs", "seed states with 'initial_state: {h: layer}'",
                      full, block.name)
            return None
        attrs = dict(attrs)            # the entry's template is shared by its instances: leave it whole
        own = {key: attrs.pop(key) for key in CELL_KEYS if key in attrs}
        params = self.block_params(block, full, attrs, attr_pos, entry)
        if params is None:
            return None
        variables = self.block_vars(block.name, params)
        state, state_pos = {}, {}
        for name, shape in block.state.items():
            pos = block.state.pos_of(name)
            shape = self.subst(shape, variables, pos, full, block.name)
            if shape is FAULT:
                return None
            dims = shape if isinstance(shape, list) else [shape]
            if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2 ** 31 for d in dims):
                self.fail(pos, f"state '{name}' of cell '{block.name}' needs a per-sample shape of positive sizes, "
                          f"found {shown(shape)}", "e.g. 'h: [64]'", full, block.name)
                return None
            state[name], state_pos[name] = tuple(dims), pos
        initial = own.get("initial_state") or {}
        if not isinstance(initial, dict) or not set(initial) <= set(state):
            self.fail(attr_pos.get("initial_state", entry.pos), f"'initial_state' of a '{block.name}' cell must map "
                      f"its states ({', '.join(state)}) to layers, found {shown(initial)}",
                      "e.g. 'initial_state: {" + next(iter(state)) + ": encoder}'", full, block.name)
            return None
        saved, self.layers = self.layers, []
        inner = _Scope(full + "/", f"{full}/input", scope.scope, variables)
        for name in state:
            inner.local[name] = f"{full}/{name}"
        out = self.expand(block.layers, inner, (*stack, block.name))
        if block.output is not None:
            out = self.lookup_name(block.output, inner, block.pos, full, block.name)
        update = {name: self.lookup_name(target, inner, block.update.pos_of(name), full, block.name)
                  for name, target in block.update.items()}
        body_layers, self.layers = self.layers, saved
        if out is None or None in update.values():
            return None
        self.cell_bodies.append(body_layers)
        body = CellBody(block.name, full + "/", body_layers, state, update, out, state_pos)
        cell_attrs = {"block": block.name, "states": list(state), **{k: v for k, v in own.items()
                                                                    if k != "initial_state"}}
        decl = LayerDecl(full, "cell", cell_attrs, attr_pos, [None] * (1 + len(initial)), entry.pos, scope.scope,
                         body=body)
        decl.attrs["initial"] = list(initial)
        self.layers.append(decl)
        self.bind(decl.inputs, 0, ref_list[0], ref_pos[0], source_default, scope, index, full, block.name)
        init_pos = attr_pos.get("initial_state", entry.pos)
        for slot, name in enumerate(initial, start=1):
            self.bind(decl.inputs, slot, initial[name], init_pos, None, scope, index, full, block.name)
        return full

    def block_vars(self, block: str, params: dict) -> dict:
        """The vars inside a block instance; instances with equal params share one dict (and its memo)."""
        try:
            key = (block, tuple((name, type(value), value) for name, value in params.items()))
            known = self.scope_vars.get(key)
        except TypeError:   # an unhashable param value: no sharing
            key, known = None, None
        if known is None:
            known = {**self.global_vars, **params}
            if key is not None:
                self.scope_vars[key] = known
        return known

    def bind_alias(self, alias, ref, pos, default, scope, index, layer, layer_type) -> None:
        holder = [None]
        self.bind(holder, 0, ref, pos, default, scope, index, layer, layer_type)
        self.aliases[alias] = (holder, pos)

    def resolve_aliases(self) -> None:
        """Replace block names and block-input aliases by the node names they stand for."""
        def resolve(name, pos, layer):
            seen = []
            while name in self.aliases:
                if name in seen:
                    self.fail(pos, "references form a cycle: " + " -> ".join([*seen, name]), layer=layer)
                    return None
                seen.append(name)
                target, _ = self.aliases[name]
                name = target[0] if isinstance(target, list) else target
                if name is None:
                    return None
            return name

        aliases, splits = self.aliases, self.splits
        if not aliases and not splits:
            return resolve      # no block and no split: every input is already a layer's name
        special = aliases.keys() | splits.keys()
        for decl in [*self.layers, *(d for body in self.cell_bodies for d in body)]:
            if decl.body is not None:
                body = decl.body
                body.output = resolve(body.output, decl.pos, decl.name)
                body.update = {name: resolve(target, decl.pos, decl.name) for name, target in body.update.items()}
            inputs = decl.inputs
            if special.isdisjoint(inputs):
                continue        # nearly every layer: it reads layers by their own names
            for slot, name in enumerate(inputs):
                if name in aliases:
                    inputs[slot] = resolve(name, decl.pos, decl.name)
            for slot, name in enumerate(inputs):
                if name in splits:
                    parts = self.splits[name]
                    self.fail(decl.pos, f"'{name}' is a split with {parts} outputs: read one of them",
                              f"write 'from: {name}.0' (parts {name}.0 to {name}.{parts - 1})", decl.name, decl.type)
                    decl.inputs[slot] = None
        return resolve


def _found(value) -> str:
    """A found value in a message: null for None, else a short repr."""
    return "null" if value is None else shown(value)


def _ymap(data: dict, pos: Pos) -> YMap:
    out = YMap(data)
    out.pos, out.key_pos, out.value_pos = pos, {k: pos for k in data}, {k: pos for k in data}
    return out


def expand_one(raw: YMap, path: str, overrides: dict | None = None) -> Spec:
    """Expand one network's mapping (no `networks:` dispatch); faults in `spec.diagnostics`."""
    return _Expander(raw, path, overrides).run()


def expand(raw, path: str, overrides: dict | None = None, text: str = "") -> Spec:
    """Expand a parsed YAML document; faults are collected in `spec.diagnostics`.

    A spec with `networks:` expands into a netspec.networks.NetworksSpec (one Spec per network)."""
    if isinstance(raw, YMap) and "networks" in raw:
        from .networks import expand_networks
        with paused():
            return expand_networks(raw, path, overrides, text)
    with paused():
        spec = _Expander(raw, path, overrides).run()
    spec.source_text = text
    return spec


def parse(raw, path: str, overrides: dict | None = None, text: str = "") -> Spec:
    """Expand a parsed YAML document into a Spec; raise SpecError listing every fault."""
    spec = expand(raw, path, overrides, text)
    if spec.diagnostics:
        raise SpecError(spec.diagnostics)
    return spec


def load_text(text: str, path: str = "<string>", overrides: dict | None = None) -> Spec:
    return parse(load_yaml_text(text, path), path, overrides, text)


def read(path: str, overrides: dict | None = None) -> Spec:
    """Load and expand a spec file, collecting faults in `spec.diagnostics` (YAML faults raise)."""
    raw, text = load_yaml_file(path)
    return expand(raw, path, overrides, text)


def load(path: str, overrides: dict | None = None) -> Spec:
    """Load and expand a spec file; raise SpecError listing every fault."""
    spec = read(path, overrides)
    if spec.diagnostics:
        raise SpecError(spec.diagnostics)
    return spec


__all__ = ["BlockDef", "CellBody", "InputDecl", "LayerDecl", "Spec", "expand", "expand_one", "load", "load_text", "parse", "read"]
