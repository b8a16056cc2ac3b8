"""Safe, bounded YAML loading that remembers the file, line and column of every node.

Only YAML's core tags are accepted (no `!!python/...`), and file size, nesting depth,
alias count and the expanded node count are bounded, so no spec can run code,
exhaust memory or hang the checker.
"""
from __future__ import annotations

import os

import yaml

from .errors import Diagnostic, Pos, SpecError

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 256
MAX_NODES = 200_000

_CORE_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


# libyaml's C parser when present (about 10x faster); PyYAML's pure-Python one otherwise
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YMap(dict):
    """A mapping that knows where it and each of its keys and values stand."""

    def __init__(self, *args, pos: Pos | None = None):
        super().__init__(*args)
        self.pos = pos or Pos("<spec>")
        self.key_pos, self.value_pos = {}, {}

    def pos_of(self, key) -> Pos:
        return self.value_pos.get(key, self.key_pos.get(key, self.pos))


class YSeq(list):
    """A sequence that knows where it and each of its items stand."""

    def __init__(self, *args, pos: Pos | None = None):
        super().__init__(*args)
        self.pos = pos or Pos("<spec>")
        self.item_pos = []

    def pos_of(self, index: int) -> Pos:
        return self.item_pos[index] if 0 <= index < len(self.item_pos) else self.pos


def pos_of(value, default: Pos) -> Pos:
    return getattr(value, "pos", default)


def _pos(filename: str, mark) -> Pos:
    return Pos(filename, mark.line + 1, mark.column + 1)


def _fail(filename, mark, message, hint=None):
    pos = _pos(filename, mark) if mark is not None else Pos(filename)
    raise SpecError([Diagnostic(pos, message, hint=hint)])


class _Converter:
    def __init__(self, filename: str):
        self.filename = filename
        self.nodes = 0
        self.scalars = yaml.SafeLoader("")  # used only to resolve scalar values

    def convert(self, node, depth: int = 0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            _fail(self.filename, node.start_mark,
                  f"spec expands to more than {MAX_NODES} YAML nodes (alias bomb?)",
                  "write the structure out, or use blocks and repeat instead of YAML aliases")
        if depth > MAX_DEPTH:
            _fail(self.filename, node.start_mark, f"YAML nesting deeper than {MAX_DEPTH} levels",
                  "flatten the structure; blocks can nest without deep YAML")
        if node.tag not in _CORE_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            _fail(self.filename, node.start_mark,
                  f"YAML tag '{tag}' is not allowed; specs are data, not code",
                  "remove the tag")
        pos = _pos(self.filename, node.start_mark)
        if isinstance(node, yaml.MappingNode):
            out = YMap()
            out.pos, out.key_pos, out.value_pos = pos, {}, {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    _fail(self.filename, key_node.start_mark, "YAML merge keys '<<' are not supported",
                          "use blocks with params to share settings")
                key = self.convert(key_node, depth + 1)
                if isinstance(key, (YMap, YSeq)):
                    _fail(self.filename, key_node.start_mark, "a mapping key must be a plain value")
                if key in out:
                    _fail(self.filename, key_node.start_mark, f"duplicate key '{key}'",
                          "remove one of the two entries")
                out[key] = self.convert(value_node, depth + 1)
                out.key_pos[key] = _pos(self.filename, key_node.start_mark)
                out.value_pos[key] = _pos(self.filename, value_node.start_mark)
            return out
        if isinstance(node, yaml.SequenceNode):
            out = YSeq()
            out.pos, out.item_pos = pos, []
            for item in node.value:
                out.append(self.convert(item, depth + 1))
                out.item_pos.append(_pos(self.filename, item.start_mark))
            return out
        return self.scalars.construct_object(node, deep=True)


def load_yaml_text(text: str, filename: str = "<string>"):
    """Parse YAML text into YMap/YSeq/scalars with positions; raise SpecError on any fault."""
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise SpecError([Diagnostic(Pos(filename), f"spec file is larger than {MAX_FILE_BYTES // 1024} KiB")])
    loader = _LOADER(text)
    aliases = depth = 0
    try:
        # Bound aliases and nesting on the event stream before composing: composing is recursive
        # (and PyYAML's scanner slows down quadratically with nesting), the alias expansion is
        # bounded by _check_expanded_size.
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    _fail(filename, event.start_mark, f"YAML nesting deeper than {MAX_DEPTH} levels",
                          "flatten the structure; blocks can nest without deep YAML")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    _fail(filename, event.start_mark, f"more than {MAX_ALIASES} YAML aliases",
                          "use blocks and repeat instead of YAML aliases")
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        _fail(filename, mark, f"YAML syntax error: {problem}", _syntax_hint(exc, text))
    except yaml.YAMLError as exc:  # pragma: no cover - defensive
        raise SpecError([Diagnostic(Pos(filename), f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError([Diagnostic(Pos(filename, 1, 1), "spec file is empty",
                                    hint="start with 'name:', 'input:' and 'layers:'")])
    _check_expanded_size(root, filename)
    return _Converter(filename).convert(root)


def _syntax_hint(exc, text: str) -> str | None:
    """The likely fix for a YAML syntax error, from what stands at the fault."""
    mark, problem = exc.problem_mark, str(exc.problem or "")
    lines = text.splitlines()
    at_line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "\\t" in problem or "\t" in at_line[:max(1, mark.column + 1 if mark else 1)]:
        return "indent with spaces, not tabs"
    context = exc.context_mark
    if "flow mapping" in str(exc.context or "") or "',' or '}'" in problem:
        line = f" at line {context.line + 1}" if context is not None else ""
        return f"a '{{'{line} is not closed with '}}' (or an item lacks a comma)"
    if "flow sequence" in str(exc.context or "") or "',' or ']'" in problem:
        line = f" at line {context.line + 1}" if context is not None else ""
        return f"a '['{line} is not closed with ']' (or an item lacks a comma)"
    if "block end" in problem or "block" in str(exc.context or "") or "expected '-'" in problem:
        return "check the indentation: items of one list or mapping must start in the same column"
    if "mapping values are not allowed" in problem:
        return "quote the value, or put a space after ':' only between a key and its value"
    return None


def _check_expanded_size(root, filename: str) -> None:
    """Reject documents whose aliases expand to more than MAX_NODES nodes, before expanding anything."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else
                    list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if done:
            size = 1 + sum(sizes.get(id(c), 1) for c in children)
            sizes[id(node)] = size
            if size > MAX_NODES:
                _fail(filename, node.start_mark, f"the YAML expands to more than {MAX_NODES:,} nodes through "
                      "aliases (an alias bomb?)", "write the structure out, or use blocks and repeat instead "
                      "of YAML aliases")
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def load_yaml_file(path: str):
    """Read and parse a spec file into (document, text); unreadable files raise SpecError."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise SpecError([Diagnostic(Pos(path), f"spec file is {size} bytes, more than the "
                                        f"{MAX_FILE_BYTES // 1024} KiB allowed")])
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SpecError([Diagnostic(Pos(path), "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Diagnostic(Pos(path), "is a directory, not a spec file")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Diagnostic(Pos(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(Pos(path), f"cannot read: {exc.strerror}")]) from None
    return load_yaml_text(text, path), text
