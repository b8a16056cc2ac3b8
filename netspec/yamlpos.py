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
MAX_INT_BITS = 1024            # as far as a float reaches (about 1.8e308)
MAX_INT_CHARS = 330            # longer integer literals are refused before conversion

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


def _line_col(text: str, offset: int) -> tuple:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


_DEPTH_HINT = "flatten the structure; blocks can nest without deep YAML"


_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Frame:
    __slots__ = ("anchor", "container", "is_map", "key", "key_mark", "mark", "size")

    def __init__(self, container, is_map, anchor, mark):
        self.container, self.is_map, self.anchor, self.mark = container, is_map, anchor, mark
        self.key, self.key_mark, self.size = _Frame, None, 1   # key: _Frame means "no key yet"


class _Builder:
    """Builds YMap/YSeq/scalars straight from the parser's events, in one bounded pass.

    Nesting depth, alias count and the alias-expanded node count are checked as events arrive,
    before anything large is built; explicit tags other than YAML's core ones are refused.
    """

    def __init__(self, filename: str):
        self.filename = filename
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.anchors: dict = {}     # anchor -> (value, expanded node count)
        self.nodes = self.aliases = self.documents = 0
        self.root = None

    def fail(self, mark, message, hint=None):
        _fail(self.filename, mark, message, hint)

    def build(self, events):
        stack: list[_Frame] = []
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self.add(stack, self.scalar(event), 1, event.start_mark, event.anchor)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self.check_tag(event.tag, event.start_mark)
                if len(stack) >= MAX_DEPTH:
                    self.fail(event.start_mark, f"YAML nesting deeper than {MAX_DEPTH} levels", _DEPTH_HINT)
                pos = _pos(self.filename, event.start_mark)
                if kind is yaml.MappingStartEvent:
                    container = YMap()
                    container.pos, container.key_pos, container.value_pos = pos, {}, {}
                else:
                    container = YSeq()
                    container.pos, container.item_pos = pos, []
                stack.append(_Frame(container, kind is yaml.MappingStartEvent, event.anchor, event.start_mark))
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                self.add(stack, frame.container, frame.size, frame.mark, frame.anchor, counted=True)
            elif kind is yaml.AliasEvent:
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    self.fail(event.start_mark, f"more than {MAX_ALIASES} YAML aliases",
                              "use blocks and repeat instead of YAML aliases")
                if event.anchor not in self.anchors:
                    self.fail(event.start_mark, f"YAML alias '*{event.anchor}' names no anchor",
                              f"define it first with '&{event.anchor}'")
                value, size = self.anchors[event.anchor]
                self.add(stack, value, size, event.start_mark, None)
            elif kind is yaml.DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    self.fail(event.start_mark, "a spec file holds one YAML document; found a second '---'",
                              "split it into two spec files")
        return self.root

    def check_tag(self, tag, mark) -> None:
        if tag is not None and tag != "!" and tag not in _CORE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            self.fail(mark, f"YAML tag '{shown}' is not allowed; specs are data, not code", "remove the tag")

    def scalar(self, event):
        tag, explicit = event.tag, event.tag not in (None, "!")
        if not explicit:
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR or (tag == _TIMESTAMP and not explicit):   # an unquoted date stays text
            return event.value
        if tag == _MERGE:
            self.fail(event.start_mark, "YAML merge keys '<<' are not supported",
                      "use blocks with params to share settings")
        self.check_tag(tag, event.start_mark)
        shown = f"!!{tag.rsplit(':', 1)[-1]}"
        if tag == _INT and len(event.value) > MAX_INT_CHARS:
            self._out_of_range(event, f"{len(event.value)} characters long")
        if explicit and tag == _NULL and self.resolver.resolve(yaml.ScalarNode, event.value, (True, False)) != _NULL:
            self.fail(event.start_mark, f"{event.value!r} is not a valid {shown}", "write null, ~ or nothing")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.constructor.yaml_constructors[tag](self.constructor, node)
        except (ValueError, IndexError, KeyError, AttributeError, OverflowError):
            self.fail(event.start_mark, f"{event.value!r} is not a valid {shown}",
                      "remove the tag, or write a value of that type")
        if type(value) is int and value.bit_length() > MAX_INT_BITS:
            self._out_of_range(event, f"{value.bit_length()} bits")
        return value

    def _out_of_range(self, event, size: str):
        self.fail(event.start_mark, f"integer {event.value[:12]}... is out of range ({size}); numbers in a spec "
                  "lie within about 1.8e308", "write a smaller number")

    def add(self, stack, value, size, mark, anchor, counted=False) -> None:
        """Put a finished value into the open collection; `counted`: its nodes were counted on arrival."""
        if not counted:
            self.nodes += size
        if self.nodes > MAX_NODES:
            self.fail(mark, f"the YAML expands to more than {MAX_NODES:,} nodes through aliases (an alias bomb?)",
                      "write the structure out, or use blocks and repeat instead of YAML aliases")
        if anchor:
            self.anchors[anchor] = (value, size)
        if not stack:
            self.root = value
            return
        frame = stack[-1]
        frame.size += size
        container = frame.container
        if not frame.is_map:
            container.append(value)
            container.item_pos.append(_pos(self.filename, mark))
        elif frame.key is _Frame:
            if isinstance(value, (YMap, YSeq)):
                self.fail(mark, "a mapping key must be a plain value")
            if value in container:
                self.fail(mark, f"duplicate key '{value}'", "remove one of the two entries")
            frame.key, frame.key_mark = value, mark
        else:
            key = frame.key
            container[key] = value
            container.key_pos[key] = _pos(self.filename, frame.key_mark)
            container.value_pos[key] = _pos(self.filename, mark)
            frame.key = _Frame


def load_yaml_text(text: str, filename: str = "<string>"):
    """Parse YAML text into YMap/YSeq/scalars with positions; raise SpecError on any fault."""
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise SpecError([Diagnostic(Pos(filename), f"spec file is larger than {MAX_FILE_BYTES // 1024} KiB")])
    builder = _Builder(filename)
    try:
        root = builder.build(yaml.parse(text, Loader=_LOADER))
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SpecError([Diagnostic(Pos(filename, line, col), f"control character U+{ord(char):04X} is not allowed "
                                    "in a spec", hint="delete it (in a double-quoted string, write it as an escape "
                                    "such as \\t)")]) from None
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):   # libyaml >= 0.2.6 stops deep flow nesting before we count it
            _fail(filename, exc.problem_mark, f"YAML nesting deeper than {MAX_DEPTH} levels", _DEPTH_HINT)
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        _fail(filename, mark, f"YAML syntax error: {problem}", _syntax_hint(exc, text))
    except yaml.YAMLError as exc:  # pragma: no cover - defensive
        raise SpecError([Diagnostic(Pos(filename), f"YAML error: {exc}")]) from None
    if root is None:
        raise SpecError([Diagnostic(Pos(filename, 1, 1), "spec file is empty",
                                    hint="start with 'name:', 'input:' and 'layers:'")])
    return root


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
