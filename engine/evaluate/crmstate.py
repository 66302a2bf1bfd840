"""In-memory CRM state in the CRM state file format, indexed by normalised email.

`CrmState.from_dict` reads ``{"salesforce": {"Lead": [...], "Contact": [...]}, "hubspot":
{"contacts": [...]}}``; the person objects (Salesforce Lead/Contact, HubSpot contacts) become
`Record`s indexed by email (trimmed, lower case, D-WB-5); every other object (Task, EmailMessage,
emails, ...) is kept as given. `parse_crm_state_text` reads the file's text and reports, as coded
diagnostics at the offending value, every slip `from_dict` would silently skip (`check_crm_state`).
The state is read-only to the planner: it forks the index to add the
records it plans to create and keeps its planned writes in an overlay of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from engine.diagnostics import Diagnostic, Severity, did_you_mean, error, warning
from engine.evaluate.events import normalize_email, parse_crm_time
from engine.evaluate.policy import is_blank
from engine.language.jsonpos import JSON_DECODER, Locator, line_col

PERSON_OBJECTS: dict[str, tuple[str, ...]] = {"salesforce": ("Lead", "Contact"), "hubspot": ("contacts",)}

# Standard event contact attributes -> CRM fields (used when creating a record, D-WB-3, and as a
# fallback when a template asks for `contact.firstName` and only the CRM record has it).
SF_ATTRIBUTE_FIELDS: dict[str, str] = {
    "email": "Email", "firstName": "FirstName", "lastName": "LastName", "title": "Title",
    "company": "Company", "phone": "Phone", "linkedinUrl": "LinkedIn_URL__c",
}
HS_ATTRIBUTE_FIELDS: dict[str, str] = {
    "email": "email", "firstName": "firstname", "lastName": "lastname", "title": "jobtitle",
    "company": "company", "phone": "phone", "linkedinUrl": "hs_linkedin_url",
}
ATTRIBUTE_FIELDS = {"salesforce": SF_ATTRIBUTE_FIELDS, "hubspot": HS_ATTRIBUTE_FIELDS}
EMAIL_FIELD = {"salesforce": "Email", "hubspot": "email"}
# Salesforce refuses a Lead without LastName and Company, a Contact without LastName: a record the
# engine creates without them gets this placeholder (and the plan shows it).
PLACEHOLDER = "[not provided]"
REQUIRED_ON_CREATE = {("salesforce", "Lead"): ("LastName", "Company"), ("salesforce", "Contact"): ("LastName",)}


def new_record_fields(crm: str, email: str, contact: Mapping[str, Any], has_field=None) -> dict[str, Any]:
    """D-WB-3: the standard contact attributes of an event as the new record's fields
    (``firstName`` -> ``FirstName`` / ``firstname``, ...). `has_field(name)` filters by metadata."""
    out: dict[str, Any] = {}
    for attr, fname in ATTRIBUTE_FIELDS[crm].items():
        v = email if attr == "email" else contact.get(attr)
        if not is_blank(v) and (has_field is None or has_field(fname)):
            out[fname] = v
    return out


def fill_required(crm: str, obj: str, fields: dict[str, Any], has_field=None) -> None:
    """Put `PLACEHOLDER` in the fields the CRM requires on create, when they are blank."""
    for f in REQUIRED_ON_CREATE.get((crm, obj), ()):
        if is_blank(fields.get(f)) and (has_field is None or has_field(f)):
            fields[f] = PLACEHOLDER


class Record:
    """One person record (Lead, Contact or HubSpot contact). `fields` is the CRM's field map (for
    HubSpot, the ``properties``); it is never modified. `id` is None for a record planned to be
    created."""

    __slots__ = ("crm", "object", "id", "fields", "email", "email_problem", "modified", "order", "key")

    def __init__(self, crm: str, obj: str, rid: str | None, fields: Mapping[str, Any], email: str | None,
                 email_problem: str | None, modified: int, order: int):
        self.crm = crm
        self.object = obj
        self.id = rid
        self.fields = fields
        self.email = email
        self.email_problem = email_problem
        self.modified = modified
        self.order = order
        self.key = f"{crm}/{obj}/{rid}" if rid is not None else f"{crm}/{obj}/+{email}"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Record({self.key}, email={self.email!r})"


def _person(crm: str, obj: str, raw: Mapping[str, Any], order: int) -> Record | None:
    if crm == "salesforce":
        if raw.get("IsDeleted") is True:
            return None
        fields = raw
        rid = raw.get("Id")
        modified = parse_crm_time(raw.get("LastModifiedDate") or raw.get("SystemModstamp"))
    else:
        if raw.get("archived") is True:
            return None
        fields = raw.get("properties") or {}
        rid = raw.get("id")
        modified = parse_crm_time(raw.get("updatedAt") or fields.get("lastmodifieddate")
                                  or fields.get("hs_lastmodifieddate"))
    email, problem = normalize_email(fields.get(EMAIL_FIELD[crm]))
    return Record(crm, obj, None if rid is None else str(rid), fields, email, problem,
                  modified if modified is not None else -1, order)


@dataclass
class CrmState:
    """Person records by CRM and object, an email index per CRM, and every other object as given."""

    records: dict[str, dict[str, list[Record]]] = field(default_factory=dict)
    by_email: dict[str, dict[str, list[Record]]] = field(default_factory=dict)  # crm -> email -> records
    others: dict[str, dict[str, list]] = field(default_factory=dict)  # crm -> object -> raw records
    _next_order: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "CrmState":
        """Read the §6 format. Unknown CRMs and non-list values are ignored."""
        state = cls(records={"salesforce": {}, "hubspot": {}}, by_email={"salesforce": {}, "hubspot": {}},
                    others={"salesforce": {}, "hubspot": {}})
        order = 0
        for crm in ("salesforce", "hubspot"):
            objects = (data or {}).get(crm) or {}
            if not isinstance(objects, Mapping):
                continue
            index = state.by_email[crm]
            for obj, rows in objects.items():
                if not isinstance(rows, list):
                    continue
                if obj not in PERSON_OBJECTS[crm]:
                    state.others[crm][obj] = list(rows)
                    continue
                bucket = state.records[crm].setdefault(obj, [])
                for raw in rows:
                    if type(raw) is not dict and not isinstance(raw, Mapping):
                        continue
                    rec = _person(crm, obj, raw, order)
                    order += 1
                    if rec is None:
                        continue
                    bucket.append(rec)
                    if rec.email_problem is None:
                        lst = index.get(rec.email)
                        if lst is None:
                            index[rec.email] = [rec]
                        else:
                            lst.append(rec)
        state._next_order = order
        return state

    def fork(self) -> "CrmState":
        """A copy whose index can take new records without touching this one (lists are shared
        until replaced: `add` never appends in place)."""
        return CrmState(records={c: {o: list(rs) for o, rs in objs.items()} for c, objs in self.records.items()},
                        by_email={c: dict(ix) for c, ix in self.by_email.items()},
                        others=self.others, _next_order=self._next_order)

    def candidates(self, crm: str, email: str) -> list[Record]:
        return self.by_email.get(crm, {}).get(email, [])

    def add(self, crm: str, obj: str, fields: Mapping[str, Any], email: str, modified: int) -> Record:
        """Index a record planned to be created (id None)."""
        rec = Record(crm, obj, None, fields, email, None, modified, self._next_order)
        self._next_order += 1
        self.records.setdefault(crm, {}).setdefault(obj, []).append(rec)
        ix = self.by_email.setdefault(crm, {})
        ix[email] = ix.get(email, []) + [rec]  # replace, never append in place (see fork)
        return rec

    def people(self) -> Iterator[Record]:
        """Every person record, in state order."""
        for objs in self.records.values():
            for recs in objs.values():
                yield from recs

    def unmatchable(self) -> Iterator[Record]:
        """Person records that can never sync: no email or an invalid one (D-WB-5)."""
        return (r for r in self.people() if r.email_problem is not None)

    def unmatchable_report(self) -> Iterator[tuple[Record, str | None, str]]:
        """(record, its email as written or None, detail) for every record `unmatchable` yields."""
        for rec in self.unmatchable():
            raw = rec.fields.get(EMAIL_FIELD[rec.crm])
            what = "has no email address" if rec.email_problem == "no_email" else f"has an invalid email address {raw!r}"
            yield rec, raw if isinstance(raw, str) and raw else None, f"{rec.object} {rec.id} {what}"


# ------------------------------------------------------------------------------ checking the file

# Keys a HubSpot CRM v3 object may carry besides `properties` (anything else is a slip such as
# `email` written beside `properties` instead of inside it).
HS_RECORD_KEYS = frozenset({"id", "properties", "createdAt", "updatedAt", "archived", "archivedAt",
                            "associations", "propertiesWithHistory", "url"})
_TIME_KEYS = {"salesforce": ("LastModifiedDate", "SystemModstamp", "CreatedDate"),
              "hubspot": ("updatedAt", "createdAt")}
_ID_KEY = {"salesforce": "Id", "hubspot": "id"}
_EXAMPLE = '{"salesforce": {"Lead": [{"Id": "00Q1", "Email": "ann@acme.io"}]}, "hubspot": {"contacts": []}}'


@dataclass(frozen=True)
class StateIssue:
    """A problem in CRM state data, at a path (keys and list indices) of it."""

    code: str
    severity: str  # error | warning
    path: tuple
    message: str
    hint: str | None = None
    at_key: bool = False


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)


def _near_person(crm: str, obj: str) -> str | None:
    """The person object `obj` probably means (`Leads`, `lead`, `Contacts` -> Lead, Contact), or None."""
    if obj.endswith("__c"):
        return None
    low = obj.lower().rstrip("s")
    for real in PERSON_OBJECTS[crm]:
        if obj != real and low == real.lower().rstrip("s"):
            return real
    return None


def check_crm_state(data: Any) -> list[StateIssue]:
    """Check CRM state data (§6) for the slips `CrmState.from_dict` would silently skip: the wrong
    shape, unknown or misspelt CRMs and person objects, records without an id, duplicate ids,
    timestamps that are not date-times. Codes CRMSTATE002..009."""
    out: list[StateIssue] = []
    if not isinstance(data, dict):
        return [StateIssue("CRMSTATE002", "error", (), f"the CRM state must be a JSON object, not {_kind(data)}",
                           f"e.g. {_EXAMPLE}")]
    if data and not set(data) & set(PERSON_OBJECTS) and {"id", "type", "at"} & set(data):
        return [StateIssue("CRMSTATE002", "error", (), "this is an event, not a CRM state",
                           "swapped --events and --crm-state?")]
    for crm, objects in data.items():
        if crm not in PERSON_OBJECTS:
            out.append(StateIssue("CRMSTATE003", "error", (crm,), f"unknown CRM '{crm}' in the CRM state",
                                  did_you_mean(crm, PERSON_OBJECTS) or "use salesforce or hubspot", at_key=True))
            continue
        if not isinstance(objects, dict):
            example = '{"Lead": [...], "Contact": [...]}' if crm == "salesforce" else '{"contacts": [...]}'
            out.append(StateIssue("CRMSTATE004", "error", (crm,), f"'{crm}' must be an object of object name -> "
                                  f"records, not {_kind(objects)}", f"e.g. \"{crm}\": {example}"))
            continue
        for obj, rows in objects.items():
            near = _near_person(crm, obj)
            if near is not None:
                out.append(StateIssue("CRMSTATE007", "error", (crm, obj), f"unknown {crm} object '{obj}'",
                                      f"did you mean '{near}'? its records would be ignored", at_key=True))
                continue
            if not isinstance(rows, list):
                out.append(StateIssue("CRMSTATE004", "error", (crm, obj), f"'{crm}.{obj}' must be a list of records, "
                                      f"not {_kind(rows)}", "use [] for none; one object per record"))
                continue
            if obj not in PERSON_OBJECTS[crm]:
                continue  # Task, EmailMessage, emails, ...: kept as given
            out.extend(_check_records(crm, obj, rows))
    return out


def _check_records(crm: str, obj: str, rows: list) -> list[StateIssue]:
    out: list[StateIssue] = []
    id_key = _ID_KEY[crm]
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows):
        where = (crm, obj, i)
        if not isinstance(raw, dict):
            out.append(StateIssue("CRMSTATE004", "error", where, f"a {obj} record must be an object, not {_kind(raw)}",
                                  f'e.g. {{"{id_key}": "...", ...}}'))
            continue
        rid = raw.get(id_key)
        if id_key not in raw or rid is None or rid == "" or isinstance(rid, (bool, dict, list, float)):
            other = "id" if crm == "salesforce" else "Id"
            hint = (f"'{id_key}' is case-sensitive in {crm}" if other in raw
                    else f"every record needs its {crm} id; a record the engine should create is not in the state")
            out.append(StateIssue("CRMSTATE005", "error", where + ((id_key,) if id_key in raw else ()),
                                  f"{obj} record {i + 1} has no '{id_key}'" if id_key not in raw
                                  else f"{obj} record {i + 1}: '{id_key}' must be a non-empty string", hint))
        else:
            rid = str(rid)
            if rid in seen:
                out.append(StateIssue("CRMSTATE008", "error", where + (id_key,),
                                      f"duplicate {obj} id '{rid}' (also record {seen[rid] + 1})",
                                      "each record once; ids are unique per object"))
            else:
                seen[rid] = i
        if crm == "hubspot":
            props = raw.get("properties")
            if props is not None and not isinstance(props, dict):
                out.append(StateIssue("CRMSTATE004", "error", where + ("properties",),
                                      f"'properties' must be an object, not {_kind(props)}",
                                      '"properties": {"email": "bo@acme.io"}'))
            for k in raw:
                if k not in HS_RECORD_KEYS:
                    out.append(StateIssue("CRMSTATE009", "error", where + (k,), f"unknown key '{k}' in a hubspot {obj} "
                                          "record", f'HubSpot properties go under "properties": {{"{k}": ...}}',
                                          at_key=True))
        for key in _TIME_KEYS[crm]:
            v = raw.get(key)
            if v is not None and parse_crm_time(v) is None:
                out.append(StateIssue("CRMSTATE006", "error", where + (key,),
                                      f"'{key}' is not an ISO 8601 date-time: {v!r}",
                                      "e.g. 2026-11-01T00:00:00Z: of several records with one email, the "
                                      "most recently modified is updated, D-WB-6"))
    return out


def parse_crm_state_text(text: str, file: str) -> tuple[dict | None, list[Diagnostic]]:
    """The §6 CRM state file's text as a dict, or (None, diagnostics) when it has errors.

    Diagnostics point at the offending value (at the key for an unknown CRM or object). Codes:
    CRMSTATE001 not JSON, 002..009 see `check_crm_state`, 010 an empty file (a warning).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return {}, [warning("CRMSTATE010", file, (1, 1), "the CRM state file is empty: planning against a CRM "
                            "with no records", f"e.g. {_EXAMPLE}")]
    try:
        data = JSON_DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            hint = None
            if exc.pos == len(text) - len(text.lstrip()):
                hint = f"the CRM state file is JSON, e.g. {_EXAMPLE}"
            elif exc.msg == "Extra data":
                try:
                    first = JSON_DECODER.decode(text.splitlines()[0])
                except (ValueError, RecursionError, IndexError):
                    first = None
                if isinstance(first, dict) and {"id", "type", "at"} & set(first):
                    hint = "this is an events file (JSONL); swapped --events and --crm-state?"
            return None, [error("CRMSTATE001", file, (exc.lineno, exc.colno), f"not valid JSON: {exc.msg}", hint)]
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        word = str(exc).split(" ", 1)[0] if not isinstance(exc, RecursionError) else ""
        i = text.find(word) if word else -1
        return None, [error("CRMSTATE001", file, line_col(text, i) if i >= 0 else (1, 1), f"not valid JSON: {what}")]
    issues = check_crm_state(data)
    if not issues:
        return data, []
    loc = Locator(text)
    diags = [Diagnostic(x.code, Severity(x.severity), file, *loc.pos(x.path, x.at_key), x.message, x.hint)
             for x in issues]
    return (None if any(d.severity == Severity.ERROR for d in diags) else data), diags
