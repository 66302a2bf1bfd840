"""Schema check: validates a loaded document against its JSON Schema (``schemas/*.json``, draft
2020-12) and turns each violation into one precise, coded Diagnostic at the YAML line of the value
(at the key itself for an unknown key, with a did-you-mean from the allowed keys).

Inside ``oneOf``/``anyOf`` it descends to the branch the value was meant for (the one whose
discriminator, e.g. a node's ``type``, matches) and reports that branch's errors, never a wall of
alternatives. Enum errors of the status and classification definitions are left to the
vocabulary check, which has the better hint (one problem, one report).

Codes: SCHEMA001 unknown key, SCHEMA002 missing key, SCHEMA003 wrong type, SCHEMA004 value not
allowed, SCHEMA005 pattern/format, SCHEMA006 size or range, SCHEMA007 other violation.

`findings` also says where each problem belongs in the document (a `Finding`), so the workspace can
build a model from the parts that are valid; `engine.language.schema_merge` folds findings that are one
problem (a misspelt required key is not also "missing"; keys not indented under an empty key).

The JSON Schemas ship as package data (``plays_schemas``); reading them is resource loading, done
once per process.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from engine.diagnostics import Diagnostic, did_you_mean, error
from engine.language.loader import Document
from engine.language.metadata import UNSUPPORTED_OBJECTS
from engine.language import schema_hints as hints
from engine.language.schema_merge import merge

SCHEMA_FILES = {
    "play": ("play.schema.json",),
    "integration": ("integration.schema.json",),
    "test": ("playtest.schema.json", "test.schema.json", "play-test.schema.json"),
    "event": ("event.schema.json",),
}
VOCAB_DEFS = ("status", "classification")  # enum errors here belong to the vocabulary check

# Patterns of the schemas, said in words: pattern -> (what a value must be, hint).
_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
_PATTERNS = {
    "^[a-z0-9][a-z0-9-]*$": ("a valid Play id", "use lowercase letters, digits and '-', e.g. replied-to-lead-status"),
    "^[a-z0-9][a-z0-9_-]*$": ("a valid node id", "use lowercase letters, digits, '_' and '-', e.g. mark_replied"),
    "^[0-9]+[smhd]$": ("an interval", "a number and s, m, h or d, e.g. 15m or 1d"),
    "^[0-9]+[mhdw]$": ("a time window", "a number and m, h, d or w, e.g. 14d"),
    _DATETIME: ("an ISO 8601 date-time with a zone", "e.g. 2026-11-01T00:00:00Z"),
    "date-time": ("an ISO 8601 date-time with a zone", "e.g. 2026-11-01T00:00:00Z"),
    "^[A-Za-z][A-Za-z0-9_]*$": ("a Salesforce API name", "letters, digits and '_', starting with a letter"),
    "^[A-Za-z0-9_]+$": ("a HubSpot property name", "letters, digits and '_'"),
    "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$":
        ("a domain name", "write the bare domain, e.g. yourcompany.com (no https://, no path)"),
    "^(@(yearly|annually|monthly|weekly|daily|hourly)|\\S+(\\s+\\S+){4})$":
        ("a cron expression", "5 fields 'minute hour day month weekday' (UTC), e.g. '0 9 * * 1', or @daily"),
    "^(https?://\\S+|\\$\\{[A-Za-z_][A-Za-z0-9_]*\\})$": ("a URL or an ${ENV} reference", "e.g. ${SF_INSTANCE_URL}"),
}

class SchemasMissing(RuntimeError):
    """The JSON Schemas are not installed where the package expects them (a broken installation)."""


@dataclass(frozen=True)
class Finding:
    """One schema problem: its diagnostic, and where it belongs in the document.

    `path` is the mapping for an unknown or missing key (`key` names it), the key itself for a badly
    named key (`what="keyname"`), else the offending value. `suggest` is the allowed key an unknown
    key probably meant. A finding without `diag` marks a part of the document that another finding
    already accounts for (`what="absorbed"`).
    """

    diag: Diagnostic | None
    path: tuple
    what: str = "value"  # unknown | missing | keyname | value | absorbed
    key: str | None = None
    suggest: str | None = None
    instance: object = None


_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "null",
}


def schemas_dir() -> Path:
    """Where the JSON Schemas are: the installed ``plays_schemas`` package, else the source tree."""
    try:
        import plays_schemas  # type: ignore[import-not-found]

        return Path(plays_schemas.__file__).parent
    except ImportError:
        return Path(__file__).resolve().parents[2] / "schemas"


@lru_cache(maxsize=1)
def _registry() -> tuple[Registry, dict[str, dict]]:
    by_name: dict[str, dict] = {}
    registry: Registry = Registry()
    folder = schemas_dir()
    for path in sorted(folder.glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        by_name[path.name] = schema
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        registry = registry.with_resource(path.name, resource)
        if isinstance(schema, dict) and isinstance(schema.get("$id"), str):
            registry = registry.with_resource(schema["$id"], resource)
    return registry, by_name


@lru_cache(maxsize=None)
def validator(kind: str) -> Draft202012Validator | None:
    """The validator for a document kind (``play``, ``integration``, ``test``, ``event``), or None."""
    registry, by_name = _registry()
    for name in SCHEMA_FILES.get(kind, ()):
        if name in by_name:
            return Draft202012Validator(by_name[name], registry=registry)
    return None


def _vocab_schemas(v: Draft202012Validator) -> list[dict]:
    defs = v.schema.get("$defs", {}) if isinstance(v.schema, dict) else {}
    return [defs[name] for name in VOCAB_DEFS if isinstance(defs.get(name), dict)]


def check(doc: Document, kind: str) -> list[Diagnostic]:
    """Every schema violation of `doc` (a ``play``/``integration``/``test`` document)."""
    return [f.diag for f in findings(doc, kind) if f.diag is not None]


def findings(doc: Document, kind: str) -> list[Finding]:
    """Every schema violation of `doc`, with where it belongs; one problem, one finding."""
    v = validator(kind)
    if v is None:
        if kind in SCHEMA_FILES:
            raise SchemasMissing(f"the JSON Schemas of plays are not installed (looked for "
                                 f"{SCHEMA_FILES[kind][0]} in {schemas_dir()}); reinstall the package")
        return []
    vocab = _vocab_schemas(v)
    out: list[Finding] = []
    seen: set[tuple] = set()
    for err in v.iter_errors(doc.data):
        for leaf in _leaves(err):
            if _is_vocab_enum(leaf, vocab) and isinstance(leaf.instance, str):
                continue  # a misspelt status or classification: the vocabulary check reports it
            for f in _findings(leaf, doc, v.schema):
                d = f.diag
                key = (d.line, d.col, d.code, d.message)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
    return merge(out, doc, kind)


def _is_vocab_enum(err: ValidationError, vocab: list[dict]) -> bool:
    if err.validator not in ("enum", "const"):
        return False
    if any(err.schema is s or err.schema == s for s in vocab):
        return True
    path = list(err.schema_path)
    return any(path[i] == "$defs" and path[i + 1] in VOCAB_DEFS for i in range(len(path) - 1))


# -- descending into oneOf / anyOf -------------------------------------------------------------

def _branches(err: ValidationError) -> dict[int, list[ValidationError]]:
    groups: dict[int, list[ValidationError]] = {}
    for sub in err.context or ():
        idx = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        groups.setdefault(idx, []).append(sub)
    return groups


def _rel(sub: ValidationError, parent: ValidationError) -> tuple:
    return tuple(sub.absolute_path)[len(tuple(parent.absolute_path)):]


def _mismatch(sub: ValidationError, parent: ValidationError) -> bool:
    """Whether a branch error shows the branch is not the one meant: the value is of another type,
    or a discriminator (a const/enum on a direct child such as ``type``) differs."""
    rel = _rel(sub, parent)
    if not rel and sub.validator == "type":
        return True
    if len(rel) == 1 and sub.validator in ("const", "enum"):
        return True
    return False


def _leaves(err: ValidationError) -> list[ValidationError]:
    if err.validator not in ("oneOf", "anyOf") or not err.context:
        return [err]
    groups = _branches(err)
    meant = {i: errs for i, errs in groups.items() if not any(_mismatch(e, err) for e in errs)}
    if len(meant) == 1:
        (errs,) = meant.values()
        return [leaf for e in errs for leaf in _leaves(e)]
    only = _required_only(err.validator_value)
    if only and all(e.validator == "required" and not _rel(e, err) for e in err.context):
        return [ValidationError(message="", validator="requiredOneOf", validator_value=only,
                                instance=err.instance, schema=err.schema, path=err.absolute_path)]
    if not meant:
        disc = _discriminator(err, groups)
        if disc is not None:
            return [disc]
    best = best_match(err.context)
    if best is None:
        return [err]
    if meant:  # several candidate branches: report the most relevant error of the best one
        best = best_match([e for errs in meant.values() for e in errs]) or best
    return _leaves(best)


def _discriminator(err: ValidationError, groups: dict[int, list[ValidationError]]) -> ValidationError | None:
    """All branches fail on the same child key's const/enum (e.g. an unknown node ``type``): one
    enum error listing every allowed value."""
    allowed: list[Any] = []
    key = None
    for errs in groups.values():
        found = [e for e in errs if len(_rel(e, err)) == 1 and e.validator in ("const", "enum")]
        if not found:
            return None
        e = found[0]
        k = _rel(e, err)[0]
        if key is not None and k != key:
            return None
        key = k
        allowed.extend([e.validator_value] if e.validator == "const" else list(e.validator_value))
    first = next(e for errs in groups.values() for e in errs if _rel(e, err) == (key,))
    return ValidationError(
        message=first.message, validator="enum", validator_value=list(dict.fromkeys(allowed)),
        instance=first.instance, schema={"enum": allowed}, path=first.absolute_path,
    )


# -- messages ----------------------------------------------------------------------------------

def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null"


def _where(path: tuple) -> str:
    """How a message names the value at `path`: ``'to'``, ``item 2 of 'events'``."""
    if not path:
        return "the document"
    if isinstance(path[-1], int):
        parent = next((p for p in reversed(path) if isinstance(p, str)), None)
        return f"item {path[-1] + 1} of '{parent}'" if parent else f"item {path[-1] + 1}"
    return f"'{path[-1]}'"


def _findings(err: ValidationError, doc: Document, root: Any = None) -> Iterable[Finding]:
    f = doc.file
    path = tuple(err.absolute_path)
    val = err.validator
    inst = err.instance

    def at(d: Diagnostic, where: tuple = path, what: str = "value", key: str | None = None,
           suggest: str | None = None) -> Finding:
        return Finding(d, where, what, key, suggest, inst if what == "value" else None)

    if val in ("additionalProperties", "unevaluatedProperties") and isinstance(inst, dict):
        allowed = hints.allowed_keys(err.schema)
        extra = [k for k in inst if k not in allowed and not _pattern_ok(k, err.schema)]
        for k in extra or list(inst)[:1]:
            belongs = hints.belongs(k, err.schema, root) if allowed else None
            if belongs:  # a key of another node or trigger type: say so (a close spelling would mislead)
                meant = hints.synonym(k, allowed)
                hint = f"did you mean '{meant}'? {belongs}" if meant else belongs
            else:
                meant = hints.suggest(k, allowed) if allowed else None
                hint = f"did you mean '{meant}'?" if meant else ("allowed keys: " + ", ".join(allowed) if allowed else None)
            yield at(error("SCHEMA001", f, doc.pos(path + (k,), key=True), f"unknown key '{k}'", hint),
                     what="unknown", key=k, suggest=meant)
        return
    if "propertyNames" in err.schema_path and isinstance(inst, str):
        kpos = doc.pos(path + (inst,), key=True)
        if val == "not":
            d = error("SCHEMA005", f, kpos, f"'{inst}' is reserved and cannot be used as a key of {_where(path)}",
                      "rename it" + ("; 'stop' ends the Play" if inst == "stop" else ""))
        else:
            known = _PATTERNS.get(str(err.validator_value))
            d = error("SCHEMA005", f, kpos, f"key '{inst}' of {_where(path)} is not "
                      f"{known[0] if known else 'a valid name'}", known[1] if known else _short(_name_rule(err)))
        yield at(d, path + (inst,), what="keyname", key=inst)
        return
    if val == "requiredOneOf":
        yield at(error("SCHEMA002", f, doc.pos(path, key=True),
                       f"{_where(path) if path else 'the document'} needs one of: {', '.join(err.validator_value)}"),
                 what="missing", key=err.validator_value[0])
        return
    if val == "required":
        missing = [k for k in err.validator_value if isinstance(inst, dict) and k not in inst]
        for k in missing or list(err.validator_value)[:1]:
            yield at(error("SCHEMA002", f, doc.pos(path, key=True), f"missing required key '{k}' in {_where(path)}"),
                     what="missing", key=k)
        return
    if val == "dependentRequired":
        yield at(error("SCHEMA002", f, doc.pos(path, key=True), err.message), what="missing")
        return
    if val == "type":
        want = err.validator_value
        wants = [want] if isinstance(want, str) else list(want)
        text = " or ".join(_TYPE_NAMES.get(w, w) for w in wants)
        if set(wants) == {"string", "number", "boolean", "null"}:
            text = "a single value (text, number, true/false or null)"
        elif len(wants) > 2:
            text = ", ".join(_TYPE_NAMES.get(w, w) for w in wants[:-1]) + " or " + _TYPE_NAMES.get(wants[-1], wants[-1])
        yield at(error("SCHEMA003", f, doc.pos(path), f"{_where(path)} must be {text}, not {_kind_of(inst)}",
                       hints.shape_hint(inst, wants, path)))
        return
    if val in ("enum", "const"):
        allowed = [err.validator_value] if val == "const" else list(err.validator_value)
        shown = ", ".join(_show(a) for a in allowed[:12]) + (", ..." if len(allowed) > 12 else "")
        if not isinstance(inst, str) and allowed and all(isinstance(a, str) for a in allowed):
            yield at(error("SCHEMA003", f, doc.pos(path), f"{_where(path)} must be text, not {_kind_of(inst)}",
                           hints.shape_hint(inst, ["string"], path) or f"allowed: {shown}"))
            return
        hint = did_you_mean(str(inst), [str(a) for a in allowed]) if isinstance(inst, str) else None
        if path and path[-1] == "object" and isinstance(inst, str) and inst in UNSUPPORTED_OBJECTS:
            hint = f"the {inst} object is not supported, D-FT-2; write to Lead or Contact"
        yield at(error("SCHEMA004", f, doc.pos(path), f"{_show(inst)} is not allowed for {_where(path)}",
                       hint or f"allowed: {shown}"))
        return
    if val in ("pattern", "format"):
        known = _PATTERNS.get(str(err.validator_value))
        if known:
            yield at(error("SCHEMA005", f, doc.pos(path), f"{_show(inst)} is not {known[0]} ({_where(path)})", known[1]))
            return
        desc = err.schema.get("description") if isinstance(err.schema, dict) else None
        what = f"pattern {err.validator_value}" if val == "pattern" else f"format '{err.validator_value}'"
        yield at(error("SCHEMA005", f, doc.pos(path), f"{_show(inst)} does not match the {what} of {_where(path)}",
                       _short(desc)))
        return
    if val in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
               "exclusiveMinimum", "exclusiveMaximum", "minProperties", "maxProperties", "uniqueItems",
               "multipleOf"):
        yield at(error("SCHEMA006", f, doc.pos(path), f"{_where(path)}: {_range_message(err)}"))
        return
    if val == "not":
        yield at(error("SCHEMA007", f, doc.pos(path), f"{_where(path)}: {_show(inst)} is not allowed here"))
        return
    if val in ("oneOf", "anyOf") and not err.context:
        only = _required_only(err.validator_value)
        if only:
            present = [k for k in only if isinstance(inst, dict) and k in inst]
            yield at(error("SCHEMA007", f, doc.pos(path + (present[-1],), key=True) if present else doc.pos(path),
                           f"{_where(path)}: give only one of {', '.join(only)}"))
            return
        yield at(error("SCHEMA007", f, doc.pos(path), f"{_where(path)} matches more than one allowed form"))
        return
    yield at(error("SCHEMA007", f, doc.pos(path), f"{_where(path)}: {err.message}"))


def _required_only(branches: Any) -> list[str]:
    """For ``oneOf: [{required: [a]}, {required: [b]}]``: ``[a, b]``; else []."""
    keys: list[str] = []
    for b in branches if isinstance(branches, list) else []:
        if not (isinstance(b, dict) and set(b) == {"required"} and len(b["required"]) == 1):
            return []
        keys.append(b["required"][0])
    return keys


def _name_rule(err: ValidationError) -> str | None:
    if val_pattern := (err.schema.get("pattern") if isinstance(err.schema, dict) else None):
        return f"names match {val_pattern}"
    return None


def _pattern_ok(key: str, schema: Any) -> bool:
    pats = (schema.get("patternProperties") or {}) if isinstance(schema, dict) else {}
    return any(re.search(p, key) for p in pats)


def _short(text: str | None) -> str | None:
    if not text:
        return None
    first = text.strip().split("\n")[0]
    return first if len(first) <= 100 else first[:97] + "..."


def _range_message(err: ValidationError) -> str:
    v, n, inst = err.validator, err.validator_value, err.instance
    return {
        "minItems": f"needs at least {n} item{'s' if n != 1 else ''}",
        "maxItems": f"allows at most {n} item{'s' if n != 1 else ''}",
        "minLength": f"needs at least {n} character{'s' if n != 1 else ''}",
        "maxLength": f"allows at most {n} characters",
        "minimum": f"{_show(inst)} is below the minimum {n}",
        "maximum": f"{_show(inst)} is above the maximum {n}",
        "exclusiveMinimum": f"{_show(inst)} must be greater than {n}",
        "exclusiveMaximum": f"{_show(inst)} must be less than {n}",
        "minProperties": f"needs at least {n} entr{'ies' if n != 1 else 'y'}",
        "maxProperties": f"allows at most {n} entries",
        "uniqueItems": "has duplicate items",
        "multipleOf": f"{_show(inst)} is not a multiple of {n}",
    }.get(v, err.message)
