"""Field checks (D-FT-1..4) against the CRM metadata snapshots named in ``integration.yaml``.

Checked: a sync node's ``fields``/``properties`` and ``default_values``, the integration's
``default_values``, ``owned_fields``, tracking field targets and ``field_mappings_since``. With
``object: auto`` a node's field must exist on both Lead and Contact; an integration-level default
or owned field on at least one of them; a tracking target on every one in the snapshot.
Skipped (silently) for a CRM without a snapshot: workspace already warned (INTEG001..003).

Codes: FIELD001 unknown field, FIELD002 unsupported type (D-FT-2), FIELD003 picklist from a
template without a default (D-FT-3), FIELD004 literal not in the picklist (D-FT-3), FIELD005
literal of the wrong type (D-FT-1), FIELD006 read-only field, FIELD007 finite set into a text
field (D-FT-4, warning), FIELD008 free text into a picklist (D-FT-4, warning), FIELD009 tracking
target of the wrong kind, FIELD010 object missing from the snapshot (warning), FIELD011
``overwrite`` names a field the node does not write (warning).
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Iterable

from engine.diagnostics import Diagnostic, did_you_mean, error, warning
from engine.language.lenient import is_uncertain
from engine.language.loader import Document
from engine.language.metadata import FieldInfo, ObjectSchema
from engine.language.model import CrmSettings, Integration, Node, Play
from engine.language.templates import is_template
from engine.language.times import is_date, parse_time  # the one time parser (run time uses it too)

CrmObjects = dict[str, dict[str, ObjectSchema]]

TRACKING_KINDS = {"track_opens": "number", "click_count": "number", "clicked_at": "datetime",
                  "sent_at": "datetime", "email_replies": "boolean"}
FINITE_VARS = ("reply.classification", "sequence.status")
FREE_TEXT_VARS = ("reply.tags", "reply.subject", "reply.body")
_SOLE_VAR = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}\s*$")
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)")
NODE_KEYS = ("next", "default_values", "overwrite", "create", "object", "description", "fields", "properties")

_ALTERNATIVE = {
    "multipicklist": "map to a text field instead",
    "reference": "map to a text field instead",
    "id": "record ids are set by the CRM and never written",
    "unsupported": "map to a supported text, number, boolean, date, datetime or picklist field",
}
_KIND_NAMES = {"multipicklist": "a multi-select picklist", "reference": "a lookup/reference field",
               "id": "the record id", "unsupported": "of an unsupported type"}


# -- literal checks ----------------------------------------------------------------------------

def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"'{value}'" if isinstance(value, str) else str(value)


def literal_problem(info: FieldInfo, value: Any) -> tuple[str, str, str] | None:
    """(code, message, hint) when a literal does not fit the field (D-FT-1, D-FT-3), else None."""
    kind = info.kind
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if kind == "number":
        if isinstance(value, bool) or not _is_number(value):
            return ("FIELD005", f"{_show(value)} is not a number, but '{info.name}' is a number field ({info.crm_type})",
                    "write a number such as 42 or 3.5")
    elif kind == "boolean":
        if not isinstance(value, bool):
            hint = "write true or false; yes/no/on/off are strings in YAML 1.2" if isinstance(value, str) \
                else "write true or false"
            return ("FIELD005", f"{_show(value)} is not true or false, but '{info.name}' is a boolean field", hint)
    elif kind == "date":
        if not (isinstance(value, str) and is_date(value)):
            return ("FIELD005", f"{_show(value)} is not a date, but '{info.name}' is a date field",
                    "dates are YYYY-MM-DD, e.g. 2026-11-20")
    elif kind == "datetime":
        if not (isinstance(value, str) and parse_time(value) is not None):
            return ("FIELD005", f"{_show(value)} is not a date-time with a zone, but '{info.name}' is a datetime field",
                    "write ISO 8601 with a zone, e.g. 2026-11-20T10:00:00Z")
    elif kind == "picklist":
        text = _show(value) if isinstance(value, bool) else str(value)
        if info.picklist_values and text not in info.picklist_values:
            return ("FIELD004", f"'{text}' is not a value of picklist '{info.name}'", _nearest(text, info.picklist_values))
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return not (isinstance(value, float) and not math.isfinite(value))
    if isinstance(value, str):
        try:
            return math.isfinite(float(value.strip().replace("_", "x")))
        except ValueError:
            return False
    return False


def _nearest(value: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=3, cutoff=0.4)
    near = [lowered[c] for c in close]
    if value.lower() in lowered and lowered[value.lower()] not in near:
        near.insert(0, lowered[value.lower()])
    if near:
        return "nearest values: " + ", ".join(f"'{n}'" for n in near)
    shown = ", ".join(f"'{c}'" for c in choices[:8]) + (", ..." if len(choices) > 8 else "")
    return f"allowed values: {shown}"


def template_vars(text: str) -> list[str]:
    return _VAR.findall(text)


# -- field lookup ------------------------------------------------------------------------------

class _Target:
    """The objects a set of field names is checked against, and how many must hold each field."""

    def __init__(self, crm: str, objects: list[ObjectSchema], need_all: bool, label: str):
        self.crm, self.objects, self.need_all, self.label = crm, objects, need_all, label

    def lookup(self, name: str) -> tuple[list[FieldInfo], list[str]]:
        """The field's infos on the objects that have it, and the objects that lack it."""
        have, lack = [], []
        for obj in self.objects:
            info = obj.get(name)
            (have.append(info) if info else lack.append(obj.name))
        return have, lack

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for obj in self.objects:
            seen.update(dict.fromkeys(obj.fields))
        return list(seen)


def _field_diags(doc: Document, target: _Target, name: str, value: Any, vpath: tuple,
                 has_default: bool | None, check_value: bool = True, node_key: bool = False,
                 is_default: bool = False) -> list[Diagnostic]:
    """Existence, support, writability, and (for a literal) type of one field; for a template into
    a picklist, the default (D-FT-3, when `has_default` is not None) and D-FT-4 advice; a default
    (`is_default`) of a picklist must be a literal (D-FT-3)."""
    f = doc.file
    kpos = doc.pos(vpath, key=True)
    vpos = doc.pos(vpath)
    have, lack = target.lookup(name)
    if not have or (target.need_all and lack):
        if have:
            on = [o.name for o in target.objects if o.name not in lack]
            msg = f"field '{name}' exists on {', '.join(on)} but not on {', '.join(lack)}"
            hint = "with object: auto a field must exist on both Lead and Contact; set object: Lead or Contact"
        else:
            msg = f"unknown {target.crm} field '{name}' on {target.label}"
            hint = did_you_mean(name, target.names()) or f"run `plays crm pull-schema` if '{name}' is new"
            if node_key and name in NODE_KEYS:
                hint = f"'{name}' is a key of the node: indent it at the level of '{vpath[-2]}', not under it"
        return [error("FIELD001", f, kpos, msg, hint)]
    out: list[Diagnostic] = []
    bad = next((i for i in have if not i.supported), None)
    if bad is not None:
        what = _KIND_NAMES.get(bad.kind, "unsupported")
        return [error("FIELD002", f, kpos, f"field '{name}' is {what} ({bad.crm_type}), which is not supported (D-FT-2)",
                      _ALTERNATIVE.get(bad.kind, _ALTERNATIVE["unsupported"]))]
    if any(not i.updateable for i in have):
        return [error("FIELD006", f, kpos, f"field '{name}' is read-only in {target.crm}",
                      "write a field that is updateable")]
    if not check_value:
        return out
    if is_template(value) and is_default:
        pick = next((i for i in have if i.kind == "picklist"), None)
        if pick is not None:
            example = f" such as {pick.picklist_values[0]}" if pick.picklist_values else ""
            out.append(error("FIELD012", f, vpos,
                             f"the default of picklist '{name}' is a template; a picklist default must be a literal "
                             f"the picklist allows (D-FT-3)", f"write one of the picklist's values{example}"))
        return out
    if is_template(value):
        variables = template_vars(value)
        sole = _SOLE_VAR.match(value)
        for info in have[:1]:
            if info.kind == "picklist":
                if has_default is False:
                    example = f": {info.picklist_values[0]}" if info.picklist_values else ""
                    out.append(error("FIELD003", f, vpos,
                                     f"picklist '{name}' is written from a template but has no default value (D-FT-3)",
                                     f"add default_values: {{{name}{example}}} to the node or to integration.yaml"))
                free = [v for v in variables if v in FREE_TEXT_VARS or v.startswith("message.")]
                if free:
                    out.append(warning("FIELD008", f, vpos,
                                       f"free text '{free[0]}' written to picklist '{name}' (D-FT-4)",
                                       "map reply tags and messages to a text field"))
            elif info.kind == "text" and sole and sole.group(1) in FINITE_VARS:
                out.append(warning("FIELD007", f, vpos,
                                   f"'{sole.group(1)}' is a finite set of values but '{name}' is a text field (D-FT-4)",
                                   "map statuses and classifications to a picklist field"))
        return out
    for info in have:
        problem = literal_problem(info, value)
        if problem:
            code, msg, hint = problem
            out.append(error(code, f, vpos, msg, hint))
            break
    return out


# -- a Play's nodes ----------------------------------------------------------------------------

def _node_target(doc: Document, node: Node, crm_objects: CrmObjects, out: list[Diagnostic]) -> _Target | None:
    crm = str(node.crm)
    objects = crm_objects.get(crm)
    if not objects:
        return None
    if crm == "hubspot":
        names = ["contacts"]
    else:
        names = ["Lead", "Contact"] if node.object == "auto" else [node.object]
    present = [objects[n] for n in names if n in objects]
    missing = [n for n in names if n not in objects]
    if missing:
        where = node.path + ("object",) if crm == "salesforce" and (node.path + ("object",)) in doc.positions \
            else node.path
        out.append(warning("FIELD010", doc.file, doc.pos(where, key=where == node.path),
                           f"object {', '.join(missing)} is not in the {crm} snapshot; its field checks are skipped",
                           "run `plays crm pull-schema` to refresh the snapshot"))
    if not present:
        return None
    label = " and ".join(o.name for o in present)
    return _Target(crm, present, need_all=True, label=label)


def check_play(doc: Document, play: Play, integration: Integration, crm_objects: CrmObjects,
               uncertain: frozenset[tuple] = frozenset()) -> list[Diagnostic]:
    """Field checks of every sync node of a Play. A default in `uncertain` integration settings
    (dropped for a schema error) may exist: FIELD003 is then not reported."""
    out: list[Diagnostic] = []
    for node in play.nodes.values():
        if node.kind not in ("sync_to_salesforce", "sync_to_hubspot"):
            continue
        target = _node_target(doc, node, crm_objects, out)
        if target is None:
            continue
        settings: CrmSettings | None = integration.settings(node.crm)
        integ_defaults = settings.default_values if settings else {}
        key = node.fields_key
        for name, value in node.fields.items():
            has_default: bool | None = name in node.default_values or name in integ_defaults
            if not has_default and is_uncertain(uncertain, str(node.crm), "default_values", name):
                has_default = None
            problems = _field_diags(doc, target, name, value, node.path + (key, name), has_default, node_key=True)
            out += problems
            if not any(d.severity == "error" for d in problems):  # a field in error gets no advice
                out += _checkbox_never_blank(doc, target, name, node, settings, node.path + (key, name))
        for name, value in node.default_values.items():
            out += _field_diags(doc, target, name, value, node.path + ("default_values", name), None, node_key=True,
                                is_default=True)
        for i, name in enumerate(node.overwrite):
            if name not in node.fields:
                out.append(warning("FIELD011", doc.file, doc.pos(node.path + ("overwrite", i)),
                                   f"overwrite names '{name}', which this node does not write",
                                   did_you_mean(name, list(node.fields)) or "list only fields of this node"))
    return out


def _checkbox_never_blank(doc: Document, target: _Target, name: str, node: Any, settings: CrmSettings | None,
                          path: tuple) -> list[Diagnostic]:
    """D-FT-5: a checkbox is never blank (``false`` is a value), so a node mapping one that is neither
    owned (D-WB-1) nor in its `overwrite` opt-in (D-WB-4) can never write it on an existing record."""
    have, _lack = target.lookup(name)
    if not any(i.kind == "boolean" for i in have):
        return []
    if name in node.overwrite or (settings is not None and name in settings.owned):
        return []
    crm = "integration.yaml"
    return [warning("FIELD013", doc.file, doc.pos(path, key=True),
                    f"checkbox '{name}' is never blank (false is a value), so this node can never write it on an "
                    f"existing record (D-FT-5)",
                    f"add {name} to owned_fields in {crm}, or to this node's overwrite: [{name}]")]


# -- integration settings ----------------------------------------------------------------------

def check_integration(doc: Document, integration: Integration, crm_objects: CrmObjects) -> list[Diagnostic]:
    """Field checks of the integration's defaults, owned fields, tracking targets and mapping starts."""
    out: list[Diagnostic] = []
    for crm in ("salesforce", "hubspot"):
        settings = integration.settings(crm)
        objects = crm_objects.get(crm)
        if settings is None or not objects:
            continue
        if crm == "salesforce":
            present = [objects[n] for n in ("Lead", "Contact") if n in objects] or list(objects.values())
        else:
            present = [objects.get("contacts") or next(iter(objects.values()))]
        label = " or ".join(o.name for o in present)
        any_target = _Target(crm, present, need_all=False, label=label)
        all_target = _Target(crm, present, need_all=True, label=" and ".join(o.name for o in present))
        base = (crm,)
        for name, value in settings.default_values.items():
            out += _any_field(doc, any_target, name, value, base + ("default_values", name))
        for i, name in enumerate(settings.owned_fields):
            out += _value_is_field(doc, any_target, name, base + ("owned_fields", i))
        tkey = "tracking_properties" if crm == "hubspot" else "tracking_fields"
        for tk, name in settings.tracking.items():
            path = base + (tkey, tk)
            problems = _value_is_field(doc, all_target, name, path)
            out += problems
            if problems:
                continue
            want = TRACKING_KINDS[tk]
            for obj in present:
                info = obj.get(name)
                if info is not None and info.kind != want:
                    out.append(error("FIELD009", doc.file, doc.pos(path),
                                     f"tracking target '{name}' of {tk} is a {info.kind} field ({info.crm_type}) "
                                     f"on {obj.name}, but {tk} needs a {want} field", f"map {tk} to a {want} field"))
                    break
        for name in settings.mappings_since:
            out += _field_diags(doc, any_target, name, None, base + ("field_mappings_since", name), None,
                                check_value=False)
    return out


def _any_field(doc: Document, target: _Target, name: str, value: Any, path: tuple) -> list[Diagnostic]:
    """A default for a field on at least one object; its literal checked where the field exists."""
    return _field_diags(doc, target, name, value, path, None, is_default=True)


def _value_is_field(doc: Document, target: _Target, name: str, path: tuple) -> list[Diagnostic]:
    """A field named by a list item or mapping value: problems point at the value."""
    out = []
    for d in _field_diags(doc, target, name, None, path, None, check_value=False):
        line, col = doc.pos(path)
        out.append(type(d)(d.code, d.severity, d.file, line, col, d.message, d.hint))
    return out
