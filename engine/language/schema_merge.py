"""Folds schema findings that are one problem into one report (one problem, one report).

- A misspelt required key is reported once, as the unknown key with its did-you-mean, never also
  as "missing required key".
- Keys written below an empty key but not indented under it (``fields:`` then ``Status: Replied``
  at the same column) are one problem: one report at the first such key, saying where it belongs,
  instead of "'fields' must be a mapping, not null" plus one "unknown key" per line.
- The same for a whole node: ``mark:`` followed by ``type:``, ``object:``, ``fields:`` at the node
  level. The stray entries are marked absorbed, so the lenient model does not take them for nodes.
- A value of the wrong type is reported once, not also against rules for the right type.
- A reference (``goto``/``next``/``default``/``start``) to a node whose id is badly formed: the id
  is reported once, at the node's key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.diagnostics import error
from engine.language.loader import Document

if TYPE_CHECKING:
    from engine.language.schema_check import Finding

NODE_KEYS = ("type", "description", "object", "fields", "properties", "default_values", "overwrite", "create",
             "next", "cases", "default", "crm", "subject", "due_in_days")
REF_KEYS = ("goto", "next", "default")


def _value(data: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _siblings_after(doc: Document, parent: tuple, key: str) -> list[str]:
    """The keys of the mapping at `parent` written after `key`, at the same column, in file order
    (stopping at the first key at another column)."""
    mapping = _value(doc.data, parent)
    if not isinstance(mapping, dict) or (parent + (key,)) not in doc.key_positions:
        return []
    line, col = doc.key_positions[parent + (key,)]
    later = sorted((doc.key_positions.get(parent + (k,), (0, 0)), k) for k in mapping)
    out: list[str] = []
    for (kline, kcol), k in later:
        if kline <= line:
            continue
        if kcol != col:
            break
        out.append(k)
    return out


def merge(found: list["Finding"], doc: Document, kind: str) -> list["Finding"]:
    out = _wrong_type_first(found)
    out = _misspelt_required(out)
    out = _not_indented(out, doc)
    if kind == "play":
        out = _node_not_indented(out, doc)
        out = _refs_to_bad_ids(out)
        out = _refs_hint(out, doc)
    return out


def _refs_hint(found: list["Finding"], doc: Document) -> list["Finding"]:
    """A badly formed reference that differs from a node id only in case: name the node."""
    nodes = doc.data.get("nodes") if isinstance(doc.data, dict) else None
    if not isinstance(nodes, dict):
        return found
    by_lower = {str(k).lower(): k for k in nodes}
    out = []
    for f in found:
        if _is_ref(f) and isinstance(f.instance, str) and f.instance.lower() in by_lower:
            f = replace(f, diag=replace(f.diag, hint=f"did you mean '{by_lower[f.instance.lower()]}'?"))
        out.append(f)
    return out


def _is_ref(f: "Finding") -> bool:
    """A malformed node reference: ``start``, or a ``goto``/``next``/``default``."""
    ref = bool(f.path) and (f.path == ("start",) or f.path[-1] in REF_KEYS)
    return ref and f.what == "value" and f.diag is not None and f.diag.code == "SCHEMA005"


def _wrong_type_first(found: list["Finding"]) -> list["Finding"]:
    """A value of the wrong type (a list where a mapping belongs) is one problem: rules that only
    apply to the right type (``give only one of every, cron`` for a list) are consequences."""
    typed = {f.path for f in found if f.what == "value" and f.diag is not None and f.diag.code == "SCHEMA003"}
    return [f for f in found if not (f.path in typed and f.what == "value" and f.diag is not None
                                     and f.diag.code != "SCHEMA003")]


def _misspelt_required(found: list["Finding"]) -> list["Finding"]:
    meant = {(f.path, f.suggest) for f in found if f.what == "unknown" and f.suggest}
    return [f for f in found if not (f.what == "missing" and (f.path, f.key) in meant)]


def _is_empty_container_error(f: "Finding") -> bool:
    return (f.what == "value" and f.instance is None and f.diag is not None and f.diag.code == "SCHEMA003"
            and ("must be a mapping" in f.diag.message or "must be a list" in f.diag.message)
            and bool(f.path) and isinstance(f.path[-1], str))


def _not_indented(found: list["Finding"], doc: Document) -> list["Finding"]:
    """``fields:`` (empty) followed by unknown keys at its own column: one report at the first."""
    unknown = {(f.path, f.key): f for f in found if f.what == "unknown" and not f.suggest}
    drop: set[int] = set()
    replace_by: dict[int, "Finding"] = {}
    for f in found:
        if not _is_empty_container_error(f):
            continue
        parent, empty = f.path[:-1], f.path[-1]
        stray = []
        for k in _siblings_after(doc, parent, empty):
            if (parent, k) not in unknown:
                break
            stray.append(unknown[(parent, k)])
        if not stray:
            continue
        first = stray[0]
        more = "" if len(stray) == 1 else " and the key after it" if len(stray) == 2 else \
            f" and the {len(stray) - 1} keys after it"
        hint = f"indent it{more} under '{empty}:' above, which is empty"
        replace_by[id(first)] = replace(first, diag=replace(first.diag, hint=hint))
        drop.add(id(f))
        drop.update(id(s) for s in stray[1:])
    return [replace_by.get(id(f), f) for f in found if id(f) not in drop]


def _node_not_indented(found: list["Finding"], doc: Document) -> list["Finding"]:
    """``mark:`` (empty) followed by ``type:``, ``fields:``... at the node level: one report."""
    out = list(found)
    for f in found:
        if not (_is_empty_container_error(f) and len(f.path) == 2 and f.path[0] == "nodes"):
            continue
        node = f.path[1]
        stray = []
        for k in _siblings_after(doc, ("nodes",), node):
            if k not in NODE_KEYS:
                break
            stray.append(k)
        if not stray:
            continue
        covered = [("nodes", k) for k in stray]
        out = [g for g in out if g is not f and not any(g.path[:2] == c for c in covered)]
        shown = ", ".join(stray[:4]) + (", ..." if len(stray) > 4 else "")
        out.append(replace(f, diag=error("SCHEMA003", doc.file, doc.pos(covered[0], key=True),
                                         f"'{stray[0]}' is not indented under node '{node}', which is empty",
                                         f"indent {shown} under '{node}:'"),
                           instance=None, what="value"))
        out.extend(replace(f, diag=None, path=c, what="absorbed") for c in covered)
    return out


def _refs_to_bad_ids(found: list["Finding"]) -> list["Finding"]:
    bad_ids = {f.key for f in found if f.what == "keyname" and f.path[:1] == ("nodes",) and len(f.path) == 2}
    if not bad_ids:
        return found

    return [f for f in found if not (_is_ref(f) and f.instance in bad_ids)]
