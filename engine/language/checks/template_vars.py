"""Template variable check: every ``{{ ... }}`` in a Play parses and names a variable that exists,
and every attribute path used as a condition key (``contact.Title``, ``reply.subject``) does too.

Variables: ``contact.X`` / ``person.X`` (X a standard contact attribute, or a field of the target
CRM object in the metadata snapshot: case-sensitive, checked only where a snapshot is known),
``sequence.name|status``, ``reply.classification|tags|subject|body``, ``event.*``, ``play.id``,
``message.*``. The target object is the node's (Lead, Contact, both for ``auto``, HubSpot
contacts); for a branch or a task, any object of the CRMs in the snapshots.

Codes: TEMPLATE001 template does not parse, TEMPLATE002 unknown variable, TEMPLATE003 unknown
contact attribute, TEMPLATE004 a statement templates do not allow (include, extends, import, macro,
...), TEMPLATE005 a template too long or nested too deeply, TEMPLATE006 a template that breaks a
render limit whatever the data (it is dry-rendered against an empty context by the same
`engine.language.templates.render` that plan and run use), TEMPLATE007 (a warning) a template that
fails when its variables are empty (e.g. a division by an empty number).
"""

from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic, did_you_mean, error, warning
from engine.language.loader import Document
from engine.language.metadata import ObjectSchema
from engine.language.model import Integration, Node, Play
from engine.language.templates import ROOTS, TemplateSyntaxProblem, is_template, problems, variables
from engine.language.vocab import STANDARD_CONTACT_ATTRIBUTES

CrmObjects = dict[str, dict[str, ObjectSchema]]

ATTRIBUTES = {
    "sequence": ("name", "status"),
    "reply": ("classification", "tags", "subject", "body"),
    "play": ("id",),
}
OPEN_ROOTS = ("event", "message")  # any attribute


_SYNTAX_MESSAGE = {"TEMPLATE001": "template does not parse: {}", "TEMPLATE004": "{}", "TEMPLATE005": "{}"}
_SYNTAX_HINT = {
    "TEMPLATE001": "write variables as {{ contact.firstName }}",
    "TEMPLATE004": "a template is one value: use {{ ... }}, {% if %}, {% for %} and {% set %} only",
    "TEMPLATE005": "split the value, or compute it before it reaches the Play",
    "TEMPLATE006": "templates are limited in output size, loop iterations and number size (docs/diagnostics.md)",
    "TEMPLATE007": "at run time the field is skipped (template_error) when this happens; guard with {% if %}",
}


def _templates(node: Node) -> Iterator[tuple[str, tuple]]:
    """(text, document path) of every template-capable string of a node."""
    if node.kind in ("sync_to_salesforce", "sync_to_hubspot"):
        for name, value in node.fields.items():
            yield value, node.path + (node.fields_key, name)
        for name, value in node.default_values.items():
            yield value, node.path + ("default_values", name)
    elif node.kind == "create_task":
        yield node.subject, node.path + ("subject",)
        yield node.description, node.path + ("description",)


def _contact_fields(node: Node | None, crm_objects: CrmObjects) -> set[str] | None:
    """Field names `contact.X` may use at this node, or None when no snapshot tells."""
    if node is not None and node.kind in ("sync_to_salesforce", "sync_to_hubspot"):
        objects = crm_objects.get(str(node.crm))
        if not objects:
            return None
        if node.kind == "sync_to_hubspot":
            obj = objects.get("contacts")
            return set(obj.fields) if obj else None
        names = ["Lead", "Contact"] if node.object == "auto" else [node.object]
        sets = [set(objects[n].fields) for n in names if n in objects]
        return set.intersection(*sets) if sets else None
    crms = [str(node.crm)] if node is not None and node.crm is not None else list(crm_objects)
    found: set[str] | None = None
    for crm in crms:
        for obj in (crm_objects.get(crm) or {}).values():
            if crm == "salesforce" and obj.name not in ("Lead", "Contact"):
                continue
            found = (found or set()) | set(obj.fields)
    return found


def variable_problem(var: str, fields: set[str] | None) -> tuple[str, str, str | None] | None:
    """(code, message, hint) for an unknown variable path, else None."""
    parts = var.split(".")
    root = parts[0]
    if root not in ROOTS:
        close = _closest(root, ROOTS)
        return ("TEMPLATE002", f"unknown variable '{var}'",
                f"did you mean '{'.'.join([close] + parts[1:])}'?" if close
                else "variables start with " + ", ".join(f"{r}." for r in ROOTS))
    if len(parts) == 1:
        return ("TEMPLATE002", f"variable '{var}' needs an attribute, e.g. '{root}.{_example(root)}'", None)
    attr = parts[1]
    if root in ("contact", "person"):
        if attr in STANDARD_CONTACT_ATTRIBUTES or fields is None or attr in fields:
            return None
        choices = sorted(fields) + list(STANDARD_CONTACT_ATTRIBUTES)  # a standard attribute wins a tie
        return ("TEMPLATE003", f"unknown contact attribute '{attr}' in '{var}'",
                did_you_mean(attr, choices) or "use a standard attribute: " + ", ".join(STANDARD_CONTACT_ATTRIBUTES)
                + ", or a field of the CRM object")
    if root in ATTRIBUTES and attr not in ATTRIBUTES[root]:
        allowed = ATTRIBUTES[root]
        close = _closest(attr, allowed)
        return ("TEMPLATE002", f"unknown variable '{var}'",
                f"did you mean '{root}.{close}'?" if close else "known: " + ", ".join(f"{root}.{a}" for a in allowed))
    return None


def _closest(attr: str, allowed: tuple[str, ...] | list[str]) -> str:
    hint = did_you_mean(attr, allowed) or ""
    return hint.removeprefix("did you mean '").removesuffix("'?")


def _example(root: str) -> str:
    return {"contact": "firstName", "person": "firstName", "sequence": "name", "reply": "classification",
            "event": "at", "play": "id", "message": "subject"}[root]


def _check_text(doc: Document, text: str, path: tuple, fields: set[str] | None) -> list[Diagnostic]:
    """TEMPLATE001..003 of one template string at `path`."""
    if not is_template(text):
        return []
    pos = doc.pos(path)
    try:
        names = variables(text)
    except TemplateSyntaxProblem as exc:
        return [error(exc.code, doc.file, pos, _SYNTAX_MESSAGE[exc.code].format(exc), _SYNTAX_HINT[exc.code])]
    out = []
    for code, message in problems(text):
        out.append((warning if code == "TEMPLATE007" else error)(code, doc.file, pos, message, _SYNTAX_HINT[code]))
    for var in names:
        problem = variable_problem(var, fields)
        if problem:
            out.append(error(problem[0], doc.file, pos, problem[1], problem[2]))
    return out


def check_integration(doc: Document, integration: Integration, crm_objects: CrmObjects) -> list[Diagnostic]:
    """The integration's templated `default_values` (D-WB-7: rendered like field values), checked
    like a node's: they parse and name variables that exist (any person object of that CRM)."""
    out: list[Diagnostic] = []
    for crm in ("salesforce", "hubspot"):
        settings = integration.settings(crm)
        if settings is None:
            continue
        fields = _contact_fields(None, {crm: crm_objects[crm]} if crm_objects.get(crm) else {})
        for name, value in settings.default_values.items():
            if isinstance(value, str):
                out += _check_text(doc, value, (crm, "default_values", name), fields)
    return out


def check(doc: Document, play: Play, crm_objects: CrmObjects) -> list[Diagnostic]:
    """Every template and attribute-path problem of a Play."""
    out: list[Diagnostic] = []
    for node in play.nodes.values():
        fields = _contact_fields(node, crm_objects)
        for text, path in _templates(node):
            out += _check_text(doc, text, path, fields)
        for case in node.cases:
            for cond in case.when:
                if "." not in cond.key:
                    continue
                problem = variable_problem(cond.key, _contact_fields(None, crm_objects))
                if problem:
                    out.append(error(problem[0], doc.file, doc.pos(cond.path, key=True),
                                     problem[1].replace("variable", "condition key", 1)
                                     if problem[0] == "TEMPLATE002" else problem[1], problem[2]))
    return out
