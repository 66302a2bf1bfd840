"""In-memory CRM state in the §6 format (play-language.md), indexed by normalised email.

`CrmState.from_dict` reads ``{"salesforce": {"Lead": [...], "Contact": [...]}, "hubspot":
{"contacts": [...]}}``; the person objects (Salesforce Lead/Contact, HubSpot contacts) become
`Record`s indexed by email (trimmed, lower case, D-WB-5); every other object (Task, EmailMessage,
emails, ...) is kept as given. The state is read-only to the planner: it forks the index to add the
records it plans to create and keeps its planned writes in an overlay of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from engine.events import normalize_email, parse_crm_time

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
        if v is not None and v != "" and (has_field is None or has_field(fname)):
            out[fname] = v
    return out


def fill_required(crm: str, obj: str, fields: dict[str, Any], has_field=None) -> None:
    """Put `PLACEHOLDER` in the fields the CRM requires on create, when they are blank."""
    for f in REQUIRED_ON_CREATE.get((crm, obj), ()):
        if fields.get(f) in (None, "") and (has_field is None or has_field(f)):
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
