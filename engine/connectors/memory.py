"""`MemoryCrm`: a `CrmPort` over a CRM state file, held in memory.

`plays plan` and `plays test` run `engine.run.apply_batch` against it, exactly as `plays run` runs it
against Salesforce and HubSpot: the same reads, the same write-time re-check, the same net change per
record. It answers like the CRMs do where that matters to the outcome: emails match trimmed and
case-insensitively, HubSpot keeps every property as text, a write moves the record's last-modified
time, an activity with a known external id is updated, not duplicated (D-EM-6). The caller's state
is never modified (records are copied on write); `state()` gives the result in the §6 format.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Iterable, Mapping, Sequence

from engine.connectors.base import (ActivityCreate, CreatedActivity, RecordWrite, Sent, Written, norm_email,
                                    system_clock)
from engine.evaluate.activities import EVENT_ID_FIELD
from engine.evaluate.events import normalize_email

PERSONS = {"salesforce": ("Lead", "Contact"), "hubspot": ("contacts",)}
_PREFIX = {"Lead": "00Q", "Contact": "003", "Task": "00T", "EmailMessage": "02s"}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class MemoryCrm:
    """One CRM ("salesforce" or "hubspot") of a state file, as a `CrmPort`."""

    def __init__(self, crm: str, state: Mapping[str, Any] | None, clock: Any = system_clock):
        self.crm = crm
        self.person_objects = PERSONS[crm]
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self._objects: dict[str, list[Any]] = {obj: list(rows or []) for obj, rows in (state or {}).items()
                                               if isinstance(rows, list)}
        self._index: dict[str, list[tuple[str, int]]] | None = None
        self._ids: dict[tuple[str, str], int] = {}
        self._serial = 0
        self._ext: dict[str, dict[Any, int]] = {}
        self._unsyncable: dict[str, list[int]] = {}

    # ---- reads ---------------------------------------------------------------------------------
    def _fields(self, rec: Mapping[str, Any]) -> Mapping[str, Any]:
        return rec if self.crm == "salesforce" else (rec.get("properties") or {})

    def _rid(self, rec: Mapping[str, Any]) -> str | None:
        rid = rec.get("Id") if self.crm == "salesforce" else rec.get("id")
        return None if rid is None else str(rid)

    def _build(self) -> dict[str, list[tuple[str, int]]]:
        if self._index is None:
            index: dict[str, list[tuple[str, int]]] = {}
            unsyncable: dict[str, list[int]] = {}
            email_field = "Email" if self.crm == "salesforce" else "email"
            sf = self.crm == "salesforce"
            for obj in self.person_objects:
                for i, rec in enumerate(self._objects.get(obj, ())):
                    if not isinstance(rec, dict):
                        continue
                    fields = rec if sf else (rec.get("properties") or {})
                    email, problem = normalize_email(fields.get(email_field))
                    if email:
                        index.setdefault(email, []).append((obj, i))
                    if problem is not None:
                        unsyncable.setdefault(obj, []).append(i)
                    rid = rec.get("Id") if sf else rec.get("id")
                    if rid is not None:
                        self._ids[(obj, str(rid))] = i
            self._index = index
            self._unsyncable = unsyncable
        return self._index

    def unsyncable(self) -> dict[str, list[Any]]:
        """The person records without a (valid) email (D-WB-5), by object, in state order."""
        self._build()
        return {obj: [self._objects[obj][i] for i in rows] for obj, rows in self._unsyncable.items()}

    def read_records(self, emails: Iterable[str] = (), ids: Mapping[str, Iterable[str]] | None = None,
                     objects: Iterable[str] | None = None,
                     fields: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
        index = self._build()
        objs = tuple(objects or self.person_objects)
        out: dict[str, list[dict[str, Any]]] = {obj: [] for obj in objs}
        seen: set[tuple[str, int]] = set()
        for raw in emails:
            for obj, i in index.get(norm_email(raw) or "", ()):
                if obj in out and (obj, i) not in seen:
                    seen.add((obj, i))
                    out[obj].append(self._objects[obj][i])
        for obj, wanted in (ids or {}).items():
            for rid in wanted:
                i = self._ids.get((obj, str(rid)))
                if i is not None and obj in out and (obj, i) not in seen:
                    seen.add((obj, i))
                    out[obj].append(self._objects[obj][i])
        for obj in objs:
            self.counters["read"] += 1 if out[obj] or emails else 0
        return out

    # ---- writes --------------------------------------------------------------------------------
    def _text(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        if self.crm == "salesforce":
            return dict(fields)
        from engine.connectors.hubspot import hs_value
        return {k: hs_value(v) for k, v in fields.items() if v is not None}

    def _new_id(self, obj: str) -> str:
        self._serial += 1
        if self.crm == "hubspot":
            return str(900_000_000 + self._serial)
        return f"{_PREFIX.get(obj, '0XX')}MEM{self._serial:09d}"

    def apply_writes(self, writes: Sequence[RecordWrite]) -> Sent:
        self._build()
        out = Sent()
        now = _iso(self.clock())
        self.counters["write"] += (len(writes) + 199) // 200 if self.crm == "salesforce" else (len(writes) + 99) // 100
        for w in writes:
            values = self._text(w.fields)
            if w.op == "create":
                rid = self._new_id(w.object)
                if self.crm == "salesforce":
                    rec: dict[str, Any] = {"Id": rid, **values, "LastModifiedDate": now}
                else:
                    rec = {"id": rid, "properties": values, "createdAt": now, "updatedAt": now}
                rows = self._objects.setdefault(w.object, [])
                rows.append(rec)
                self._ids[(w.object, rid)] = len(rows) - 1
                email = norm_email(w.email)
                if email:
                    self._index.setdefault(email, []).append((w.object, len(rows) - 1))
                out.written.append(Written(self.crm, w.object, rid, w.email, "create", dict(w.fields), {}, w.sources))
                continue
            i = self._ids.get((w.object, str(w.record)))
            if i is None:
                from engine.results import Skipped, SkipReason
                out.skipped.append(Skipped(SkipReason.CRM_REJECTED, self.crm, w.object, w.record, w.email,
                                           detail=f"ENTITY_IS_DELETED: {w.object} {w.record} does not exist",
                                           message="entity is deleted", code="ENTITY_IS_DELETED", at=self.clock()))
                continue
            old = self._objects[w.object][i]
            if self.crm == "salesforce":
                new = {**old, **values, "LastModifiedDate": now}
            else:
                new = {**old, "properties": {**(old.get("properties") or {}), **values}, "updatedAt": now}
            self._objects[w.object][i] = new
            out.written.append(Written(self.crm, w.object, str(w.record), w.email, "update", dict(w.fields),
                                       dict(w.before), w.sources))
        return out

    def create_activities(self, activities: Sequence[ActivityCreate]) -> Sent:
        out = Sent()
        ext_field = EVENT_ID_FIELD[self.crm]
        self.counters["activity"] += (len(activities) + 199) // 200 if self.crm == "salesforce" else (len(activities) + 99) // 100
        for a in activities:
            rows = self._objects.setdefault(a.object, [])
            fields = self._text(a.fields)
            fields[ext_field] = a.external_id
            known = self._ext.get(a.object)
            if known is None:
                known = self._ext[a.object] = {self._fields(r).get(ext_field): i for i, r in enumerate(rows)
                                               if isinstance(r, Mapping) and self._fields(r).get(ext_field)}
            found = known.get(a.external_id)
            if found is None:
                rid = self._new_id(a.object)
                rec = {"Id": rid, **fields} if self.crm == "salesforce" else {"id": rid, "properties": fields,
                                                                              "associations": [a.record]}
                rows.append(rec)
                known[a.external_id] = len(rows) - 1
            else:
                rid = self._rid(rows[found]) or ""
                old = rows[found]
                rows[found] = {**old, **fields} if self.crm == "salesforce" else {
                    **old, "properties": {**(old.get("properties") or {}), **fields}}
            out.activities.append(CreatedActivity(self.crm, a.object, rid, a.record, a.email, a.external_id,
                                                  found is None, a.play, a.node, a.event))
        return out

    # ---- the rest of the port ------------------------------------------------------------------
    def calls(self) -> dict[str, int]:
        return dict(self.counters)

    def close(self) -> None:
        pass

    def state(self) -> dict[str, list[Any]]:
        """This CRM's records now, in the §6 format."""
        return {obj: list(rows) for obj, rows in self._objects.items()}
