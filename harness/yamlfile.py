"""Reading one YAML input file (scenario, testbed, fleet) within bounds, in one pass.

Why: PyYAML's composer recurses (500 levels: ``RecursionError``), keeps the last of two equal
keys silently, and takes seconds per megabyte; a file is read here as bytes of a bounded size,
decoded as UTF-8 with the bad byte's line, and built from the (libyaml) event stream by an
explicit stack that bounds nesting and the number of values (aliases count their whole
target, so no "billion laughs"), refuses duplicate keys and tags it does not know, and gives
both the data and a node tree for line numbers. Every refusal is a :class:`ConfigError` that
names the file, the field and line, and the fix.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, Problem

MAX_FILE_BYTES = 4 * 1024 * 1024  # room for a 1,000-node fleet (~150 KB) many times over
MAX_DEPTH = 32  # a scenario nests 5 deep, a fleet 7
MAX_VALUES = 400_000  # scalars and collections, aliases expanded (10,000 faults: ~110,000)
MAX_INT_CHARS = 100  # 2**64 has 20 digits; Python converts at most 4,300 (and prints no more)

_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCT = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "binary")}
_TIMESTAMP, _MERGE, _INT = f"{_TAG}timestamp", f"{_TAG}merge", f"{_TAG}int"
# YAML 1.2 floats that YAML 1.1 (PyYAML) reads as strings: 1e9, 2.5E3
_FLOAT12 = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
# what YAML calls non-printable (c-printable is tab, LF, CR, x20-x7E, x85, xA0-...)
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"),
         (b"\xfe\xff", "UTF-16"), (b"\xff\xfe", "UTF-16"))


def _refuse(path: str | Path, message: str, field: str = "",
            line: int | None = None) -> ConfigError:
    """One problem of an input file as a ConfigError."""
    return ConfigError(problems=(Problem(str(path), field, line, message),))


# ---------------------------------------------------------------- bytes to text


def read_bytes(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes; ConfigError when it is not a readable file or is over ``limit``
    (checked before reading it all)."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "no such file"
        raise _refuse(path, f"{what}; give the path of a YAML file (e.g. "
                            "examples/three-edge.yaml)")
    try:
        with p.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror}); check its permissions") from None
    if len(raw) > limit:
        raise _refuse(path, f"the file is over {limit // (1024 * 1024)} MiB, the most an "
                            "input file may have; split it, or generate the faults with "
                            "chaos: instead of listing them")
    return raw


def decode(path: str | Path, raw: bytes) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is dropped); ConfigError naming the line of a
    byte that is not UTF-8, a UTF-16/32 file, or a character YAML does not allow."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise _refuse(path, f"the file is {name} (it starts with a {name} byte-order "
                                "mark); edgeproof reads UTF-8: save it as UTF-8 (e.g. "
                                f"iconv -f {name} -t UTF-8)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise _refuse(path, f"byte 0x{raw[exc.start]:02x} at line {line}, column {col} is "
                            "not UTF-8; save the file as UTF-8 (from Latin-1: iconv -f "
                            "latin1 -t UTF-8)", line=line) from None
    text = text.removeprefix("\ufeff")
    if m := _NON_PRINTABLE.search(text):
        line, col = _line_col(text, m.start())
        utf16 = " (NUL bytes: is it UTF-16? save it as UTF-8)" if m.group() == "\x00" else ""
        raise _refuse(path, f"character U+{ord(m.group()):04X} at line {line}, column {col} "
                            f"is a control character, which YAML does not allow; remove "
                            f"it{utf16}", line=line)
    return text


def _line_col(buf: bytes | str, index: int) -> tuple[int, int]:
    nl = b"\n" if isinstance(buf, bytes) else "\n"
    return buf.count(nl, 0, index) + 1, index - buf.rfind(nl, 0, index)  # type: ignore[arg-type]


# ---------------------------------------------------------------- text to data


@dataclass
class _Frame:
    """A mapping or sequence being built: its data, its node, where it is and, in a mapping,
    the key waiting for its value."""

    data: Any
    node: yaml.Node
    where: str
    key: Any = None
    key_node: yaml.Node | None = None
    expect_key: bool = True
    merges: list[tuple[Any, yaml.Node]] = field(default_factory=list)
    anchor: str | None = None
    start_count: int = 0


class _Builder:
    """Data and node tree from an event stream, with the bounds above."""

    def __init__(self, path: str | Path, max_items: Mapping[str, tuple[int, str]]) -> None:
        self.path = path
        self.max_items = max_items
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, yaml.Node, int]] = {}
        self.count = 0
        self.resolved: dict[str, tuple[str, Any]] = {}
        self.result: tuple[Any, yaml.Node | None] = (None, None)
        self.documents = 0

    def error(self, message: str, mark: Any, where: str | None = None) -> ConfigError:
        line = mark.line + 1 if mark is not None else None
        return _refuse(self.path, message, where if where is not None else self.where(),
                       line)

    def where(self) -> str:
        """The field path of the value the next event builds."""
        if not self.stack:
            return ""
        top = self.stack[-1]
        if isinstance(top.data, list):
            return f"{top.where}[{len(top.data)}]"
        if top.expect_key:
            return top.where
        return f"{top.where}.{top.key}" if top.where else str(top.key)

    def feed(self, ev: yaml.Event) -> None:
        """Take one event."""
        if isinstance(ev, yaml.ScalarEvent):
            self.scalar(ev)
        elif isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self.start(ev)
        elif isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self.end()
        elif isinstance(ev, yaml.AliasEvent):
            self.alias(ev)
        elif isinstance(ev, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.error("the file has more than one YAML document ('---'); keep "
                                 "one", ev.start_mark, "")

    def counted(self, n: int, mark: Any) -> None:
        self.count += n
        if self.count > MAX_VALUES:
            raise self.error(f"the file holds more than {MAX_VALUES:,} values (aliases count "
                             "their whole target), the most an input file may have; make "
                             "it smaller", mark)

    def scalar(self, ev: yaml.ScalarEvent) -> None:
        self.counted(1, ev.start_mark)
        tag, value = self.resolve(ev)
        node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, style=ev.style)
        self.anchor(ev.anchor, value, node, 1)
        self.attach(value, node, ev.start_mark)

    def resolve(self, ev: yaml.ScalarEvent) -> tuple[str, Any]:
        """(tag, value) of a scalar: plain ones as YAML 1.1 reads them (plus YAML 1.2's 1e9
        floats; timestamps stay text), quoted ones text, explicit tags of the core schema."""
        if ev.tag not in (None, "!"):
            return self.tagged(ev)
        if not ev.implicit[0]:
            return f"{_TAG}str", ev.value
        got = self.resolved.get(ev.value)
        if got is None:
            got = self.resolved[ev.value] = self.implicit(ev)
        return got

    def implicit(self, ev: yaml.ScalarEvent) -> tuple[str, Any]:
        value = ev.value
        if _FLOAT12.match(value):
            return f"{_TAG}float", float(value)
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
        if tag in (_TIMESTAMP, f"{_TAG}str", f"{_TAG}value"):
            return f"{_TAG}str", value
        if tag == _MERGE:
            return tag, None
        self.short_int(tag, ev)
        node = yaml.ScalarNode(tag, value, ev.start_mark, ev.end_mark)
        return tag, _CONSTRUCT.yaml_constructors[tag](_CONSTRUCT, node)

    def tagged(self, ev: yaml.ScalarEvent) -> tuple[str, Any]:
        if ev.tag not in _SCALAR_TAGS:
            raise self.error(f"the tag {ev.tag!r} is not one edgeproof reads; remove it (plain "
                             "YAML values need no tags)", ev.start_mark)
        self.short_int(ev.tag, ev)
        node = yaml.ScalarNode(ev.tag, ev.value, ev.start_mark, ev.end_mark)
        try:
            return ev.tag, _CONSTRUCT.yaml_constructors[ev.tag](_CONSTRUCT, node)
        except (yaml.YAMLError, ValueError) as exc:
            raise self.error(f"{ev.value!r} is not a valid {ev.tag.rsplit(':', 1)[-1]} "
                             f"({exc}); fix the value or remove the tag",
                             ev.start_mark) from None

    def short_int(self, tag: str, ev: yaml.ScalarEvent) -> None:
        """Refuse an integer written with more than ``MAX_INT_CHARS`` characters before it is
        built: Python will not convert (or print) one of over 4,300 digits (ValueError)."""
        if tag == _INT and len(ev.value) > MAX_INT_CHARS:
            raise self.error(f"a whole number written with {len(ev.value):,} characters, more "
                             f"than the {MAX_INT_CHARS} any value needs; write a smaller "
                             "number (or quote it, if it is text)", ev.start_mark)

    def start(self, ev: yaml.CollectionStartEvent) -> None:
        is_map = isinstance(ev, yaml.MappingStartEvent)
        want = f"{_TAG}{'map' if is_map else 'seq'}"
        if ev.tag not in (None, "!", want):
            raise self.error(f"the tag {ev.tag!r} is not one edgeproof reads; remove it",
                             ev.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep, deeper than any "
                             "edgeproof file needs; flatten it", ev.start_mark)
        self.counted(1, ev.start_mark)
        node_cls = yaml.MappingNode if is_map else yaml.SequenceNode
        node = node_cls(want, [], ev.start_mark, None, flow_style=ev.flow_style)
        data: Any = {} if is_map else []
        if self.stack and self.stack[-1].expect_key and isinstance(self.stack[-1].data, dict):
            raise self.error("a mapping key must be a plain value (a name), not a "
                             f"{'mapping' if is_map else 'list'}", ev.start_mark)
        self.stack.append(_Frame(data, node, self.where(), anchor=ev.anchor,
                                 start_count=self.count))

    def end(self) -> None:
        frame = self.stack.pop()
        for value, node in frame.merges:
            self.merge(frame, value, node)
        size = self.count - frame.start_count + 1
        self.anchor(frame.anchor, frame.data, frame.node, size)
        self.attach(frame.data, frame.node, frame.node.start_mark)

    def merge(self, frame: _Frame, value: Any, node: yaml.Node) -> None:
        """``<<: *base`` (or a list of them): their keys where the mapping has none."""
        for m in value if isinstance(value, list) else [value]:
            if not isinstance(m, dict):
                raise self.error("a merge key (<<) takes a mapping or a list of mappings",
                                 node.start_mark, frame.where)
            for k, v in m.items():
                frame.data.setdefault(k, v)

    def alias(self, ev: yaml.AliasEvent) -> None:
        got = self.anchors.get(ev.anchor)
        if got is None:
            opened = any(f.anchor == ev.anchor for f in self.stack)
            why = "the node that contains it" if opened else "an anchor defined before it"
            raise self.error(f"the alias *{ev.anchor} must refer to {why}; define "
                             f"&{ev.anchor} first, outside this value", ev.start_mark)
        value, node, size = got
        self.counted(size, ev.start_mark)
        self.attach(value, node, ev.start_mark)

    def anchor(self, name: str | None, value: Any, node: yaml.Node, size: int) -> None:
        if name:
            self.anchors[name] = (value, node, size)

    def attach(self, value: Any, node: yaml.Node, mark: Any) -> None:
        """Put a finished value where it belongs: the document, a list, a key, a value."""
        if not self.stack:
            self.result = (value, node)
            return
        top = self.stack[-1]
        if isinstance(top.data, list):
            self.bounded(top, mark)
            top.data.append(value)
            top.node.value.append(node)
        elif top.expect_key:
            self.key(top, value, node, mark)
        else:
            self.value(top, value, node)

    def bounded(self, top: _Frame, mark: Any) -> None:
        """Refuse a list longer than ``max_items`` allows for its field (faults: the most a
        schedule may have), at the first item too many, before reading the rest."""
        limit = self.max_items.get(top.where)
        if limit is not None and len(top.data) >= limit[0]:
            raise self.error(f"more than {limit[0]:,} entries, {limit[1]}", mark,
                             f"{top.where}[{len(top.data)}]")

    def key(self, top: _Frame, value: Any, node: yaml.Node, mark: Any) -> None:
        if isinstance(value, dict | list):
            raise self.error("a mapping key must be a plain value (a name)", mark)
        if node.tag != _MERGE and value in top.data:
            first = next((k.start_mark.line + 1 for k, _ in top.node.value
                          if k.tag != _MERGE and k.value == node.value), None)
            also = f" (first on line {first})" if first else ""
            where = f"{top.where}.{value}" if top.where else str(value)
            raise self.error(f"duplicate key {value!r}{also}; YAML keeps only one of them, "
                             "so keep one and remove the other", mark, where)
        top.key, top.key_node, top.expect_key = value, node, False

    def value(self, top: _Frame, value: Any, node: yaml.Node) -> None:
        assert top.key_node is not None
        if top.key_node.tag == _MERGE:
            top.merges.append((value, node))
        else:
            top.data[top.key] = value
            top.node.value.append((top.key_node, node))
        top.key, top.key_node, top.expect_key = None, None, True



@contextmanager
def _paused_gc() -> Iterator[None]:
    """No cyclic GC while building (it rescans the young objects, doubling the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse(path: str | Path, text: str, max_items: Mapping[str, tuple[int, str]] | None = None
          ) -> tuple[Any, yaml.Node | None]:
    """The data of one YAML document and its node tree (None, None for an empty file);
    ``max_items`` bounds lists by field path: ``{"faults": (10_000, "the most ...")}``."""
    builder = _Builder(path, max_items or {})
    try:
        with _paused_gc():
            for ev in yaml.parse(text, Loader=_PARSER):
                builder.feed(ev)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise _refuse(path, f"YAML syntax error{where}: {exc.problem or exc}; fix the YAML "
                            "(indentation, colons, brackets, quotes) and try again",
                      line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise _refuse(path, f"YAML error: {exc}; fix the YAML and try again") from None
    return builder.result


def load(path: str | Path, max_items: Mapping[str, tuple[int, str]] | None = None
         ) -> tuple[Any, yaml.Node | None]:
    """Read, decode and parse a YAML input file within the bounds; ConfigError otherwise."""
    return parse(path, decode(path, read_bytes(path)), max_items)
