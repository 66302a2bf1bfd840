"""The sandbox CRM's records: Salesforce sObjects and HubSpot objects, in memory, optionally
mirrored to a SQLite file so they survive a restart.

State goes in and out whole in the CRM state file format:
`{"salesforce": {"Lead": [record, ...], ...}, "hubspot": {"contacts": [{"id", "properties",
"createdAt", "updatedAt", "associations"}], ...}}`. Callers hold `store.lock` around a request's
reads and writes so each request sees and leaves a consistent state.

Emails are stored as the real CRMs store them, on every write path and on `load()` too:
Salesforce trims `email`-type fields and keeps their case (`sf_email`); HubSpot trims and
lower-cases a contact's `email` (`hs_email`). Both are idempotent, so `load(state())` is a no-op.

`sf_index(obj, field, key)` is a lazily built equality index (key of the value -> ids, in
insertion order) that `sf_put` keeps current; SOQL `=` / `IN` use it instead of a full scan.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any, Callable, Iterable

from sandbox.metadata import HUBSPOT_PROPERTIES, KEY_PREFIXES, SALESFORCE_FIELDS

SF_OBJECTS = tuple(SALESFORCE_FIELDS)
# The org's two users: the integration user every API session acts as, and a person who edits
# records in the CRM's own screens (seeded records and the `ui_session_id` session act as them).
SANDBOX_USER_ID = "0055g00000SANDBOXAAA"
UI_USER_ID = "0055g00000UIUSERAAA"
HS_OBJECTS = ("contacts", "emails", "tasks")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
HS_UNIQUE = {obj: [n for n, _t, _f, o in props if o.get("unique") or n == "email"]
             for obj, props in HUBSPOT_PROPERTIES.items()}
_SF_DT_FIELDS = {obj: {n for n, t, _ in fields if t == "datetime"}
                 for obj, fields in SALESFORCE_FIELDS.items()}
SF_EMAIL_FIELDS = {obj: {n for n, t, _ in fields if t == "email"}
                   for obj, fields in SALESFORCE_FIELDS.items()}
HS_EMAIL_PROPS = {"contacts": {"email"}}


def sf_email(value: Any) -> Any:
    """A Salesforce email field as stored: leading and trailing white space trimmed, case kept
    (blank becomes null, as Salesforce saves an empty text value)."""
    return (value.strip() or None) if isinstance(value, str) else value


def hs_email(value: Any) -> Any:
    """A HubSpot contact email as stored: trimmed and lower-cased (blank becomes no value)."""
    return (value.strip().lower() or None) if isinstance(value, str) else value


def hs_unique_key(prop: str, value: Any) -> str:
    """The key under which a unique HubSpot property value is indexed (case-insensitive)."""
    text = str(value)
    return (text.strip() if prop == "email" else text).lower()


def sf_id_suffix(id15: str) -> str:
    """The 3-character case-safe suffix that turns a 15-character Salesforce id into 18."""
    out = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out += _SUFFIX[bits]
    return out


def parse_dt(value: Any) -> datetime | None:
    """Parse an ISO-8601 date-time (`Z`, `+0000`, `+00:00` or epoch milliseconds); None if not."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if "T" not in value and " " not in value.strip():
        return None  # a bare date is not a date-time
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sf_datetime(dt: datetime) -> str:
    """Salesforce's wire format: `2026-11-20T10:00:00.000+0000`."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def hs_datetime(dt: datetime) -> str:
    """HubSpot's wire format: `2026-11-20T10:00:00.000Z`."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class Store:
    """All records of both CRMs. Thread-safe when callers hold `lock`."""

    def __init__(self, db: str | None = None, clock: Callable[[], datetime] | None = None):
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sf: dict[str, dict[str, dict[str, Any]]] = {o: {} for o in SF_OBJECTS}
        self.hs: dict[str, dict[str, dict[str, Any]]] = {o: {} for o in HS_OBJECTS}
        # HubSpot unique-value properties: (object, property) -> lower-cased value -> id
        self.hs_index: dict[tuple[str, str], dict[str, str]] = {}
        # (object, property) pairs whose "unique" values some live records share (seeded so):
        # their index names only one of them, so searches on them must scan.
        self.hs_shared: set[tuple[str, str]] = set()
        # Salesforce equality indexes: (object, field) -> (key function, key -> {id: None})
        self._sf_eq: dict[tuple[str, str],
                          tuple[Callable[[Any], Any], dict[Any, dict[str, None]]]] = {}
        # Salesforce table order: object -> id -> position of first insertion (dict order)
        self.sf_pos: dict[str, dict[str, int]] = {o: {} for o in SF_OBJECTS}
        self._sf_counter = 0
        self._hs_counter = 1000
        self._db: sqlite3.Connection | None = None
        # (object, id, record before or None) of every Salesforce record put while journalling,
        # so an allOrNone Composite request can undo all its subrequests (see `rollback`)
        self._journal: list[tuple[str, str, dict[str, Any] | None]] | None = None
        if db:
            self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS records (crm TEXT, obj TEXT, id TEXT, "
                             "body TEXT, PRIMARY KEY (crm, obj, id))")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._read_db()

    # ---- clock and ids -------------------------------------------------------------------
    def now_sf(self) -> str:
        return sf_datetime(self.clock())

    def now_hs(self) -> str:
        return hs_datetime(self.clock())

    def new_sf_id(self, obj: str) -> str:
        self._sf_counter += 1
        n, digits = self._sf_counter, ""
        while n:
            n, r = divmod(n, 62)
            digits = _ALPHABET[r] + digits
        id15 = KEY_PREFIXES.get(obj, "a00") + "5g" + digits.rjust(10, "0")
        self._meta("sf_counter", self._sf_counter)
        return id15 + sf_id_suffix(id15)

    def new_hs_id(self) -> str:
        self._hs_counter += 1
        self._meta("hs_counter", self._hs_counter)
        return str(self._hs_counter)

    def sf_get(self, obj: str, rid: str, deleted: bool = False) -> dict[str, Any] | None:
        table = self.sf.get(obj, {})
        rec = table.get(rid)
        if rec is None and len(rid) == 15:
            rec = table.get(rid + sf_id_suffix(rid))
        if rec is not None and rec.get("IsDeleted") and not deleted:
            return None
        return rec

    def sf_find(self, rid: str) -> tuple[str, dict[str, Any]] | None:
        """The live record with this id in any sObject table."""
        for obj in self.sf:
            rec = self.sf_get(obj, rid)
            if rec is not None:
                return obj, rec
        return None

    # ---- writes (memory + SQLite) --------------------------------------------------------
    def sf_put(self, obj: str, records: Iterable[dict[str, Any]]) -> None:
        rows = []
        table = self.sf.setdefault(obj, {})
        indexes = [(f, key, idx) for (o, f), (key, idx) in self._sf_eq.items() if o == obj]
        for rec in records:
            for name in SF_EMAIL_FIELDS.get(obj, ()):
                if isinstance(rec.get(name), str):
                    rec[name] = sf_email(rec[name])
            before = table.get(rec["Id"])
            if self._journal is not None:
                self._journal.append((obj, rec["Id"], dict(before) if before else None))
            if before is None:
                positions = self.sf_pos.setdefault(obj, {})
                positions[rec["Id"]] = len(positions)
            for fname, key, index in indexes:
                new_key = key(rec.get(fname))
                if before is not None:
                    old_key = key(before.get(fname))
                    if old_key == new_key:
                        continue
                    bucket = index.get(old_key)
                    if bucket is not None:
                        bucket.pop(rec["Id"], None)
                        if not bucket:
                            del index[old_key]
                index.setdefault(new_key, {})[rec["Id"]] = None
            table[rec["Id"]] = rec
            rows.append(("salesforce", obj, rec["Id"], json.dumps(rec)))
        self._write(rows)

    def begin_journal(self) -> None:
        """Start noting every Salesforce record put, so `rollback` can undo them (callers hold
        `lock` from here to `end_journal` / `rollback`)."""
        self._journal = []

    def end_journal(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        """Undo every Salesforce put since `begin_journal`, newest first, and stop journalling."""
        journal, self._journal = self._journal or [], None
        for obj, rid, before in reversed(journal):
            if before is not None:
                self.sf_put(obj, [before])
                continue
            rec = self.sf.get(obj, {}).pop(rid, None)
            self.sf_pos.get(obj, {}).pop(rid, None)
            for (o, fname), (key, index) in self._sf_eq.items():
                if o == obj and rec is not None:
                    bucket = index.get(key(rec.get(fname)))
                    if bucket is not None:
                        bucket.pop(rid, None)
            if self._db is not None:
                self._db.execute("DELETE FROM records WHERE crm = 'salesforce' AND obj = ? AND "
                                 "id = ?", (obj, rid))

    def sf_index(self, obj: str, fname: str, key: Callable[[Any], Any]
                 ) -> dict[Any, dict[str, None]]:
        """Ids of the `obj` records (deleted ones too) by `key(record[fname])`, built on first
        use and kept current by `sf_put`. `key` must be the same function on every call for a
        given field (the SOQL comparison key of the field's type)."""
        entry = self._sf_eq.get((obj, fname))
        if entry is None:
            index: dict[Any, dict[str, None]] = {}
            for rid, rec in self.sf.get(obj, {}).items():
                index.setdefault(key(rec.get(fname)), {})[rid] = None
            entry = self._sf_eq[(obj, fname)] = (key, index)
        return entry[1]

    def hs_put(self, obj: str, records: Iterable[dict[str, Any]]) -> None:
        rows = []
        for rec in records:
            table = self.hs.setdefault(obj, {})
            for prop in HS_EMAIL_PROPS.get(obj, ()):
                if isinstance(rec["properties"].get(prop), str):
                    rec["properties"][prop] = hs_email(rec["properties"][prop])
            self._hs_unindex(obj, table.get(rec["id"]))
            table[rec["id"]] = rec
            self._hs_reindex(obj, rec)
            rows.append(("hubspot", obj, rec["id"], json.dumps(rec)))
        self._write(rows)

    def _hs_unindex(self, obj: str, rec: dict[str, Any] | None) -> None:
        if rec is None:
            return
        for prop in HS_UNIQUE.get(obj, ()):
            value = rec["properties"].get(prop)
            index = self.hs_index.get((obj, prop), {})
            if value is not None and index.get(hs_unique_key(prop, value)) == rec["id"]:
                del index[hs_unique_key(prop, value)]

    def _hs_reindex(self, obj: str, rec: dict[str, Any]) -> None:
        if rec.get("archived"):
            return
        for prop in HS_UNIQUE.get(obj, ()):
            value = rec["properties"].get(prop)
            if value is not None:
                index = self.hs_index.setdefault((obj, prop), {})
                key = hs_unique_key(prop, value)
                if index.get(key, rec["id"]) != rec["id"]:
                    self.hs_shared.add((obj, prop))  # a seed gave two live records one value
                index[key] = rec["id"]

    def hs_lookup(self, obj: str, prop: str, value: str) -> dict[str, Any] | None:
        """The live record whose unique property `prop` equals `value` (case-insensitive)."""
        rid = self.hs_index.get((obj, prop), {}).get(hs_unique_key(prop, value))
        return self.hs[obj].get(rid) if rid else None

    def _write(self, rows: list[tuple[str, str, str, str]]) -> None:
        if self._db is not None and rows:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def _meta(self, key: str, value: int) -> None:
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def _read_db(self) -> None:
        assert self._db is not None
        for crm, obj, _rid, body in self._db.execute("SELECT crm, obj, id, body FROM records"):
            rec = json.loads(body)
            if crm == "salesforce":
                positions = self.sf_pos.setdefault(obj, {})
                positions.setdefault(rec["Id"], len(positions))
                for name in SF_EMAIL_FIELDS.get(obj, ()):  # a file from before emails were trimmed
                    if isinstance(rec.get(name), str):
                        rec[name] = sf_email(rec[name])
                self.sf.setdefault(obj, {})[rec["Id"]] = rec
            else:
                for prop in HS_EMAIL_PROPS.get(obj, ()):
                    if isinstance(rec["properties"].get(prop), str):
                        rec["properties"][prop] = hs_email(rec["properties"][prop])
                self.hs.setdefault(obj, {})[rec["id"]] = rec
                self._hs_reindex(obj, rec)
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        self._sf_counter = int(meta.get("sf_counter", 0))
        self._hs_counter = int(meta.get("hs_counter", 1000))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- whole state in and out (§6) ------------------------------------------------------
    def load(self, state: dict[str, Any] | None) -> None:
        """Replace every record with those of `state` (CRM state file format)."""
        state = state or {}
        with self.lock:
            self.sf = {o: {} for o in SF_OBJECTS}
            self.hs = {o: {} for o in HS_OBJECTS}
            self.hs_index = {}
            self.hs_shared = set()
            self._sf_eq = {}
            self.sf_pos = {o: {} for o in SF_OBJECTS}
            if self._db is not None:
                self._db.execute("DELETE FROM records")
            now_sf, now_hs = self.now_sf(), self.now_hs()
            for obj, records in (state.get("salesforce") or {}).items():
                self.sf_put(obj, [self._seed_sf(obj, dict(r), now_sf) for r in records or []])
            for obj, records in (state.get("hubspot") or {}).items():
                self.hs_put(obj, [self._seed_hs(obj, r, now_hs) for r in records or []])

    def _seed_sf(self, obj: str, rec: dict[str, Any], now: str) -> dict[str, Any]:
        rec.pop("attributes", None)
        rec["Id"] = rec.get("Id") or self.new_sf_id(obj)
        for name in _SF_DT_FIELDS.get(obj, ()):
            parsed = parse_dt(rec.get(name))
            if parsed is not None:
                rec[name] = sf_datetime(parsed)
        stamp = rec.get("LastModifiedDate") or now
        rec["LastModifiedDate"] = stamp
        rec.setdefault("CreatedDate", stamp)
        rec.setdefault("SystemModstamp", stamp)
        rec.setdefault("IsDeleted", False)
        rec.setdefault("CreatedById", UI_USER_ID)
        rec.setdefault("LastModifiedById", rec["CreatedById"])
        return rec

    def _seed_hs(self, obj: str, src: dict[str, Any], now: str) -> dict[str, Any]:
        rid = str(src.get("id") or self.new_hs_id())
        if rid.isdigit() and int(rid) > self._hs_counter:
            self._hs_counter = int(rid)
            self._meta("hs_counter", self._hs_counter)
        props = {k: (None if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                 for k, v in (src.get("properties") or {}).items()}
        updated = parse_dt(src.get("updatedAt"))
        updated_at = hs_datetime(updated) if updated else now
        created = parse_dt(src.get("createdAt"))
        created_at = hs_datetime(created) if created else updated_at
        prefix = "" if obj == "contacts" else "hs_"
        props["hs_object_id"] = rid
        props[f"{prefix}lastmodifieddate"] = updated_at
        props.setdefault(f"{prefix}createdate", created_at)
        assoc = {k: [str(i) for i in v] for k, v in (src.get("associations") or {}).items()}
        return {"id": rid, "properties": props, "createdAt": created_at,
                "updatedAt": updated_at, "archived": False, "associations": assoc}

    def state(self) -> dict[str, Any]:
        """Every live record, in the CRM state file format (§6)."""
        with self.lock:
            sf = {obj: [dict(r) for r in table.values() if not r.get("IsDeleted")]
                  for obj, table in self.sf.items()}
            hs = {}
            for obj, table in self.hs.items():
                hs[obj] = []
                for rec in table.values():
                    if rec.get("archived"):
                        continue
                    out = {"id": rec["id"], "properties": dict(rec["properties"]),
                           "createdAt": rec["createdAt"], "updatedAt": rec["updatedAt"]}
                    if rec.get("associations"):
                        out["associations"] = {k: list(v) for k, v in rec["associations"].items()}
                    hs[obj].append(out)
            return {"salesforce": sf, "hubspot": hs}
