"""Hints for schema findings: the key an unknown key probably meant (a close spelling or a word
people use for it), which node or trigger type a misplaced key belongs to, and the fix for common
YAML slips (a list where a mapping belongs, an unquoted ``: ``, single braces, ``yes`` for true).

Used by `engine.language.schema_check`; pure functions of the value, its path and the schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.diagnostics import did_you_mean

# Keys people write for another key (when no spelling is close): key -> the key it means.
SYNONYMS = {
    "goto": ("next", "default"), "next": ("goto", "default"), "then": ("goto",), "if": ("when",),
    "condition": ("when",), "conditions": ("when",), "else": ("default",), "otherwise": ("default",),
    "fields": ("properties",), "properties": ("fields",), "defaults": ("default_values",), "sobject": ("object",),
    "steps": ("nodes",), "on": ("trigger",), "first": ("start",),
}
_YAML11_BOOLS = ("yes", "no", "on", "off", "y", "n")


def allowed_keys(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    keys = list((schema.get("properties") or {}).keys())
    return keys


def suggest(key: str, allowed: list[str]) -> str | None:
    """The allowed key an unknown key probably meant: a close spelling, else a known synonym."""
    hint = did_you_mean(key, allowed)
    if hint:
        return hint[len("did you mean '"):-2]
    return synonym(key, allowed)


def synonym(key: str, allowed: list[str]) -> str | None:
    return next((syn for syn in SYNONYMS.get(key.lower(), ()) if syn in allowed), None)


def belongs(key: str, schema: Any, root: Any) -> str | None:
    """For a key of another node or trigger type (``classifications`` in a status trigger): which
    types have it, as a hint."""
    defs = root.get("$defs", {}) if isinstance(root, dict) else {}
    name = next((n for n, d in defs.items() if d is schema), None)
    if not name or "_" not in name:
        return None
    family = name.split("_", 1)[0]
    this = _type_const(defs[name])
    owners = [_type_const(d) for n, d in defs.items()
              if n.startswith(family + "_") and n != name and key in (d.get("properties") or {})]
    owners = [o for o in owners if o]
    if not owners or not this:
        return None
    return f"'{key}' is a key of {', '.join(owners)} {family}s, not of {this}"


def _type_const(schema: Any) -> str | None:
    t = (schema.get("properties") or {}).get("type") if isinstance(schema, dict) else None
    return t.get("const") if isinstance(t, dict) else None


def shape_hint(inst: object, wants: list[str], path: tuple) -> str | None:
    """A hint for a value of the wrong type that is a common YAML slip."""
    if isinstance(inst, dict) and len(inst) == 1 and "string" in wants:
        k, v = next(iter(inst.items()))
        if v is None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", k) and k.split(".")[0] in _TEMPLATE_ROOTS:
            return f'write a template in double braces, quoted: "{{{{ {k} }}}}"'
        if path and isinstance(path[-1], int) and (v is None or isinstance(v, (str, int, float, bool))):
            return f'quote it, "{k}: {_plain(v)}": unquoted, \': \' starts a YAML mapping'
    if isinstance(inst, list) and wants == ["object"] and inst and all(isinstance(i, dict) and len(i) == 1 for i in inst):
        return "write the entries without '- ': one 'key: value' a line"
    if isinstance(inst, dict) and wants == ["array"]:
        return "a list: start each item with '- '"
    if isinstance(inst, (str, int, float)) and not isinstance(inst, bool) and wants == ["array"]:
        item = inst if isinstance(inst, (int, float)) or re.fullmatch(r"[A-Za-z0-9_.@-]+", inst) else json.dumps(inst)
        return f"write a list, even of one item: [{item}]"
    if isinstance(inst, str) and wants == ["boolean"] and inst.strip().lower() in _YAML11_BOOLS:
        return f"write true or false ('{inst}' is text in YAML 1.2)"
    if inst is None and wants in (["object"], ["array"]) and path and isinstance(path[-1], str):
        return f"it is empty: write its {'entries' if wants == ['object'] else 'items'} indented under '{path[-1]}:'"
    if isinstance(inst, str) and wants == ["object"] and len(path) == 2 and path[0] == "nodes" \
            and inst in ("branch", "sync_to_salesforce", "sync_to_hubspot", "create_task"):
        return f"put 'type: {inst}' on its own line, indented under '{path[1]}:'"
    return None


_TEMPLATE_ROOTS = ("contact", "person", "sequence", "reply", "event", "play", "message")


def _plain(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
