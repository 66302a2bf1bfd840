"""The loader: reads YAML (1.2 semantics) into plain Python values and remembers where each value
and each key stood, so every later check can point at ``file:line:col``.

It is the only part of the engine that reads files. It is safe by construction: it never builds
objects from tags (``!!python/object`` is an error), refuses duplicate keys, and bounds size,
nesting depth, alias count and the size a document expands to (so an alias bomb fails fast, in
constant memory). ``${ENV}`` references are plain strings here and stay so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

try:  # libyaml (through PyYAML) composes ~30x faster than pure Python: same nodes, same YAML 1.2 tags
    import yaml as _pyyaml
    from yaml import nodes as _pynodes

    _FAST = bool(getattr(_pyyaml, "__with_libyaml__", False))
except ImportError:  # pragma: no cover - pyyaml is a dependency
    _FAST = False

from engine.diagnostics import Diagnostic, error

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 200
MAX_EXPANDED_NODES = 200_000
MAX_INT_DIGITS = 64  # an integer literal longer than this is refused (YAML012): no CRM field holds one

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge", "binary")
}

Path_ = tuple  # a path into the document: keys and list indexes

_RESOLVER_12 = VersionedResolver(version=(1, 2))
_SCALAR_NODES: tuple = (ScalarNode,)
_SEQUENCE_NODES: tuple = (SequenceNode,)
_MAPPING_NODES: tuple = (MappingNode,)
_MARKED_ERRORS: tuple = (MarkedYAMLError,)
_YAML_ERRORS: tuple = (YAMLError,)
if _FAST:
    _SCALAR_NODES += (_pynodes.ScalarNode,)
    _SEQUENCE_NODES += (_pynodes.SequenceNode,)
    _MAPPING_NODES += (_pynodes.MappingNode,)
    _MARKED_ERRORS += (_pyyaml.MarkedYAMLError,)
    _YAML_ERRORS += (_pyyaml.YAMLError,)

    class _FastLoader(_pyyaml.CSafeLoader):  # type: ignore[misc,valid-type]
        """libyaml's composer, with YAML 1.2 implicit tags (``yes`` is a string) from ruamel's resolver.

        Only composes nodes (nothing is constructed); libyaml also bounds nesting depth itself.
        """

        def resolve(self, kind, value, implicit):  # noqa: ANN001, ANN201
            if kind is _pynodes.ScalarNode:
                return _RESOLVER_12.resolve(ScalarNode, value, implicit)
            return super().resolve(kind, value, implicit)


def _compose_all(text: str) -> list:
    """The node graph of every document in `text` (libyaml when present, else pure ruamel)."""
    if _FAST:
        loader = _FastLoader(text)
        try:
            nodes = []
            while loader.check_node():
                nodes.append(loader.get_node())
            return nodes
        finally:
            loader.dispose()
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True  # we report duplicates ourselves, with both lines
    return list(yaml.compose_all(text))


@dataclass
class Document:
    """A loaded YAML document: plain data plus the position of every value and key."""

    file: str
    data: Any
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def pos(self, path: tuple = (), key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value at `path` (or of its key), or the nearest ancestor's."""
        path = tuple(path)
        while True:
            table = self.key_positions if key else self.positions
            if path in table:
                return table[path]
            if key and path in self.positions:
                return self.positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]
            key = False


class _LoadError(Exception):
    def __init__(self, code: str, pos: tuple[int, int], message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.pos, self.message, self.hint = code, pos, message, hint


def _mark(node: Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node graph into plain values, enforcing the limits."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.expanded = 0
        self.aliases = 0
        self.seen_ids: set[int] = set()

    def build(self, node: Node, path: tuple, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _LoadError("YAML006", _mark(node), f"document nested deeper than {MAX_DEPTH} levels")
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            raise _LoadError(
                "YAML003", _mark(node),
                f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                "use fewer anchors/aliases",
            )
        if id(node) in self.seen_ids:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _LoadError("YAML003", _mark(node), f"more than {MAX_ALIASES} alias expansions",
                                 "use fewer anchors/aliases")
        self.seen_ids.add(id(node))
        tag = node.tag if isinstance(node.tag, str) else getattr(node.tag, "value", None)
        if tag and tag not in _ALLOWED_TAGS:
            shown = "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag
            raise _LoadError("YAML004", _mark(node), f"tag '{shown}' is not allowed",
                             "remove the tag; plays files hold plain values only")
        self.doc.positions.setdefault(path, _mark(node))
        if isinstance(node, _SCALAR_NODES):
            return _checked_scalar(node, tag)
        if isinstance(node, _SEQUENCE_NODES):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, _MAPPING_NODES):
            return self._mapping(node, path, depth)
        raise _LoadError("YAML001", _mark(node), "unsupported YAML node")

    def _mapping(self, node: MappingNode, path: tuple, depth: int) -> dict:
        out: dict = {}
        merged: list[dict] = []
        for key_node, value_node in node.value:
            ktag = key_node.tag if isinstance(key_node.tag, str) else getattr(key_node.tag, "value", None)
            if ktag == _STD + "merge":
                sources = value_node.value if isinstance(value_node, _SEQUENCE_NODES) else [value_node]
                for src in sources:
                    val = self.build(src, path, depth + 1)
                    if not isinstance(val, dict):
                        raise _LoadError("YAML001", _mark(src), "a merge key '<<' needs a mapping")
                    merged.append(val)
                continue
            if not isinstance(key_node, _SCALAR_NODES):
                hint = 'quote templates: "{{ reply.classification }}"' \
                    if isinstance(key_node, _MAPPING_NODES) and isinstance(node, _MAPPING_NODES) and node.flow_style \
                    else None
                raise _LoadError("YAML001", _mark(key_node), "mapping keys must be plain scalars", hint)
            key = _checked_scalar(key_node, ktag)
            if isinstance(key, (list, dict)) or key is None:
                raise _LoadError("YAML001", _mark(key_node), "mapping keys must be plain scalars")
            key = key if isinstance(key, str) else str(key)
            if key in out:
                first = self.doc.key_positions.get(path + (key,), (0, 0))
                raise _LoadError("YAML007", _mark(key_node), f"duplicate key '{key}'",
                                 f"first defined at line {first[0]}")
            self.doc.key_positions[path + (key,)] = _mark(key_node)
            out[key] = self.build(value_node, path + (key,), depth + 1)
        for src in reversed(merged):
            for k, v in src.items():
                out.setdefault(k, v)
        return out


def _checked_scalar(node: ScalarNode, tag: str | None) -> Any:
    """`_scalar`, refusing an integer too long to be a value (a 4,000-digit literal would break
    every later ``str()`` of it: Python limits int-to-text conversion to 4,300 digits)."""
    if tag == _STD + "int" and len(node.value.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
        raise _LoadError("YAML012", _mark(node), f"integer literal longer than {MAX_INT_DIGITS} digits",
                         "no CRM field holds a number this large; quote it if it is text")
    return _scalar(node, tag)


def _scalar(node: ScalarNode, tag: str | None) -> Any:
    value = node.value
    if tag == _STD + "null":
        return None
    if tag == _STD + "bool":
        return value.lower() == "true"
    if tag == _STD + "int":
        text = value.replace("_", "")
        try:
            if text.lower().startswith(("0o", "-0o", "+0o")):
                return int(text.replace("0o", "").replace("0O", ""), 8)
            return int(text, 0) if text.lower().startswith(("0x", "-0x", "+0x")) else int(text)
        except ValueError:
            return value
    if tag == _STD + "float":
        low = value.lower().replace("_", "")
        if low in (".inf", "+.inf"):
            return math.inf
        if low == "-.inf":
            return -math.inf
        if low == ".nan":
            return math.nan
        try:
            return float(low)
        except ValueError:
            return value
    return value  # str, timestamp (kept as written), binary


def load_yaml(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one YAML document. Returns the document, or None with coded diagnostics."""
    doc = Document(file=file, data=None)
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        return None, [error("YAML005", file, (1, 1), f"file is larger than {MAX_BYTES // 1024} KiB")]
    try:
        nodes = _compose_all(text)
    except _MARKED_ERRORS as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        at = _text_at(text, mark)
        if problem == "found undefined alias" and at.startswith("*"):  # libyaml does not name it
            problem += " '" + re.split(r"[\s,\[\]{}]", at[1:], maxsplit=1)[0] + "'"
        if "\t" in problem or "'\\t'" in problem or "tab character" in problem or at.startswith("\t"):
            return None, [error("YAML002", file, pos, "tab character where YAML needs spaces",
                                "indent with spaces, not tabs")]
        return None, [error("YAML001", file, pos, f"YAML syntax error: {problem}",
                            _indent_hint(text, mark, problem) or _syntax_hint(problem))]
    except RecursionError:
        return None, [error("YAML006", file, (1, 1), f"document nested deeper than {MAX_DEPTH} levels")]
    except _YAML_ERRORS as exc:  # a reader error: a character YAML does not allow
        where = getattr(exc, "position", None)
        pos = _line_col(text, where) if isinstance(where, int) else (1, 1)
        return None, [error("YAML001", file, pos, f"YAML error: {str(exc).splitlines()[0]}",
                            "remove control characters; YAML files are printable text")]
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, [error("YAML008", file, (1, 1), "the file is empty", "see docs/ for a minimal example")]
    if len(nodes) > 1:
        return None, [error("YAML009", file, _mark(nodes[1]), "more than one YAML document in the file",
                            "keep one Play per file")]
    builder = _Builder(doc)
    try:
        doc.data = builder.build(nodes[0], (), 0)
    except _LoadError as exc:
        return None, [error(exc.code, file, exc.pos, exc.message, exc.hint)]
    except RecursionError:
        return None, [error("YAML006", file, (1, 1), f"document nested deeper than {MAX_DEPTH} levels")]
    return doc, []


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _text_at(text: str, mark: Any) -> str:
    """The rest of the line at an error mark ("" when unknown)."""
    if mark is None:
        return ""
    lines = text.split("\n")
    return lines[mark.line][mark.column:] if 0 <= mark.line < len(lines) else ""


def _indent_hint(text: str, mark: Any, problem: str) -> str | None:
    """For "mapping values are not allowed": the line is indented deeper than the line above it,
    which already holds a value (a wrong indentation, not a value to quote)."""
    if mark is None or "mapping values are not allowed" not in problem:
        return None
    lines = text.split("\n")
    if not 0 <= mark.line < len(lines):
        return None
    here = lines[mark.line]
    above = next((ln for ln in reversed(lines[:mark.line]) if ln.strip() and not ln.strip().startswith("#")), None)
    if above is None:
        return None
    indent = len(here) - len(here.lstrip(" "))
    above_indent = len(above) - len(re.sub(r"^[ ]*(-[ ]+)*", "", above))  # where the key starts, after '- '
    key, sep, value = above[above_indent:].strip().partition(": ")
    if indent > above_indent and sep and value.strip() and not value.strip().startswith(("|", ">", "&")):
        return f"line {mark.line + 1} is indented deeper than the line above ('{key}: ...'), which already has a " \
               "value: check the indentation"
    return None


def _syntax_hint(problem: str) -> str | None:
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted"
    if "could not find expected ':'" in problem:
        return "check the indentation and that each key ends with ':'"
    if "did not find expected ',' or" in problem or "expected ',' or" in problem:
        return "a '{' or '[' opened earlier is not closed"
    if "did not find expected key" in problem:
        return "check the indentation: the keys of one mapping start in the same column"
    if "found undefined alias" in problem:
        return "define the anchor (&name) before using *name"
    return None


def load_file(path: str | Path, display: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse a file; `display` is the name diagnostics use (as the user wrote it)."""
    name = display if display is not None else str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return None, [error("YAML010", name, (1, 1), f"cannot read file: {exc.strerror}")]
    if len(raw) > MAX_BYTES:
        return None, [error("YAML005", name, (1, 1), f"file is larger than {MAX_BYTES // 1024} KiB")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [error("YAML011", name, (1, 1), f"file is not UTF-8 text (byte {exc.start})")]
    return load_yaml(text, name)
