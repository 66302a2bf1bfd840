"""Salesforce record writes for the sandbox: type checks against the describe, defaults, system
stamps, unique external ids, trimmed emails, and all-or-nothing commits.

A `SfWriter` collects the records one request creates or changes; nothing reaches the store
until `commit()`, so composite calls can roll back. Errors are Salesforce error dicts
(`{"statusCode", "message", "fields"}`) with the real org's codes.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import date
from typing import Any

from sandbox.metadata import KEY_PREFIXES
from sandbox.store import SANDBOX_USER_ID, Store, parse_dt, sf_datetime, sf_email, sf_id_suffix

# Who the request being answered acts as (set per request by the server from its session):
# written into CreatedById / LastModifiedById as Salesforce does.
ACTING_USER: ContextVar[str] = ContextVar("acting_user", default=SANDBOX_USER_ID)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_TEXT = ("string", "email", "phone", "url", "textarea", "picklist", "multipicklist", "combobox",
         "id", "reference")
_STORED = ("Lead", "Contact", "Task", "EmailMessage", "EmailMessageRelation")


def err(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


def to_18(rid: str) -> str:
    return rid + sf_id_suffix(rid) if len(rid) == 15 else rid


class SfWriter:
    """Validates and stages the writes of one request; `commit()` stores them."""

    def __init__(self, store: Store, describes: dict[str, dict[str, Any]]):
        self.store = store
        self.describes = describes
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._unique: dict[tuple[str, str], dict[str, str]] = {}

    # ---- field checks ----------------------------------------------------------------------
    def fields_of(self, obj: str) -> dict[str, dict[str, Any]]:
        return {f["name"].lower(): f for f in self.describes[obj]["fields"]}

    def coerce(self, obj: str, data: dict[str, Any], creating: bool
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Canonical field names and stored values of `data`, or the errors found."""
        fields = self.fields_of(obj)
        out: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, value in data.items():
            if key == "attributes":
                continue
            meta = fields.get(key.lower())
            if meta is None:
                errors.append(err("INVALID_FIELD", f"No such column '{key}' on sobject of type "
                                  f"{obj}", [key]))
                continue
            name = meta["name"]
            if name == "Id":
                continue  # the id travels in the URL / is checked by the caller
            if not (meta["createable"] if creating else meta["updateable"]):
                errors.append(err("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update "
                                  f"fields: {name}. Please check the security settings of this "
                                  "field and verify that it is read/write for your profile or "
                                  "permission set.", [name]))
                continue
            stored, problem = self._value(meta, value)
            if problem:
                errors.append(problem)
            else:
                out[name] = stored
        return out, errors

    def _value(self, meta: dict[str, Any], value: Any) -> tuple[Any, dict[str, Any] | None]:
        name, ftype = meta["name"], meta["type"]
        if value is None:
            if ftype == "boolean":
                return False, None
            if not meta["nillable"]:
                return None, err("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]",
                                 [name])
            return None, None

        def bad_json(kind: str) -> tuple[Any, dict[str, Any]]:
            return None, err("JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from "
                             f"VALUE_STRING value {value} or request may be missing a required "
                             f"field", [name])
        if ftype in _TEXT:
            if isinstance(value, bool) or isinstance(value, (dict, list)):
                return bad_json("string")
            text = value if isinstance(value, str) else str(value)
            if ftype == "email":
                text = sf_email(text)  # Salesforce trims an email on save, keeping its case
                if text is None:
                    return self._value(meta, None)
            if len(text) > meta["length"] > 0:
                return None, err("STRING_TOO_LONG", f"{meta['label']}: data value too large: "
                                 f"{text[:40]} (max length={meta['length']})", [name])
            if ftype == "email" and text and not _EMAIL.match(text):
                return None, err("INVALID_EMAIL_ADDRESS", f"{meta['label']}: invalid email "
                                 f"address: {text}", [name])
            if ftype in ("picklist", "multipicklist") and meta["restrictedPicklist"]:
                allowed = {p["value"] for p in meta["picklistValues"]}
                parts = text.split(";") if ftype == "multipicklist" else [text]
                for part in parts:
                    if part not in allowed:
                        return None, err("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                         f"{meta['label']}: bad value for restricted picklist "
                                         f"field: {part}", [name])
            if ftype == "reference":
                return self._reference(meta, text)
            return text, None
        if ftype == "boolean":
            if isinstance(value, bool):
                return value, None
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true", None
            return bad_json("boolean")
        if ftype in ("double", "currency", "percent", "int"):
            if isinstance(value, bool):
                return bad_json(ftype)
            try:
                number = float(value)
            except (TypeError, ValueError):
                return bad_json(ftype)
            if ftype == "int":
                if number != int(number):
                    return bad_json("int")
                return int(number), None
            return number, None
        if ftype == "date":
            try:
                return date.fromisoformat(str(value)).isoformat(), None
            except ValueError:
                return bad_json("date")
        if ftype == "datetime":
            parsed = parse_dt(value)
            return (sf_datetime(parsed), None) if parsed else bad_json("datetime")
        return value, None

    def _reference(self, meta: dict[str, Any], text: str) -> tuple[Any, dict[str, Any] | None]:
        name = meta["name"]
        if not _ID.match(text):
            return None, err("MALFORMED_ID", f"{meta['label']}: id value of incorrect type: "
                             f"{text}", [name])
        prefixes = {KEY_PREFIXES.get(t) for t in meta["referenceTo"]}
        if text[:3] not in prefixes:
            return None, err("FIELD_INTEGRITY_EXCEPTION", f"{meta['label']}: id value of "
                             f"incorrect type: {text}", [name])
        rid = to_18(text)
        stored = [t for t in meta["referenceTo"] if t in _STORED
                  and KEY_PREFIXES[t] == text[:3]]
        if stored and self.get(stored[0], rid) is None:
            return None, err("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id",
                             [name])
        return rid, None

    # ---- staged records --------------------------------------------------------------------
    def get(self, obj: str, rid: str) -> dict[str, Any] | None:
        staged = self.pending.get((obj, to_18(rid)))
        return staged if staged is not None else self.store.sf_get(obj, rid)

    def _index(self, obj: str, fname: str) -> dict[str, str]:
        key = (obj, fname)
        if key not in self._unique:
            self._unique[key] = {str(r[fname]).lower(): rid for rid, r in
                                 self.store.sf.get(obj, {}).items()
                                 if r.get(fname) is not None and not r.get("IsDeleted")}
        return self._unique[key]

    def find_by(self, obj: str, fname: str, value: str) -> dict[str, Any] | None:
        rid = self._index(obj, fname).get(str(value).lower())
        return self.get(obj, rid) if rid else None

    def _check_unique(self, obj: str, rec: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        for meta in self.describes[obj]["fields"]:
            name = meta["name"]
            if meta["unique"] and rec.get(name) is not None:
                other = self._index(obj, name).get(str(rec[name]).lower())
                if other and other != rec["Id"]:
                    errors.append(err("DUPLICATE_VALUE", f"duplicate value found: {name} "
                                      f"duplicates value on record with id: {other}", [name]))
        return errors

    def _stage(self, obj: str, rec: dict[str, Any], before: dict[str, Any] | None) -> None:
        for meta in self.describes[obj]["fields"]:
            if meta["unique"]:
                index = self._index(obj, meta["name"])
                if before and before.get(meta["name"]) is not None:
                    index.pop(str(before[meta["name"]]).lower(), None)
                if rec.get(meta["name"]) is not None:
                    index[str(rec[meta["name"]]).lower()] = rec["Id"]
        self.pending[(obj, rec["Id"])] = rec

    def create(self, obj: str, data: dict[str, Any]
               ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if any(k.lower() == "id" for k in data):
            return None, [err("INVALID_FIELD_FOR_INSERT_UPDATE",
                              "cannot specify Id in an insert call", ["Id"])]
        values, errors = self.coerce(obj, data, creating=True)
        if errors:
            return None, errors
        now = self.store.now_sf()
        rec: dict[str, Any] = {}
        for meta in self.describes[obj]["fields"]:
            name = meta["name"]
            if name in values:
                rec[name] = values[name]
            elif meta["type"] == "boolean":
                rec[name] = False
            elif meta["defaultValue"] is not None:
                rec[name] = meta["defaultValue"]
            elif name == "OwnerId":
                rec[name] = SANDBOX_USER_ID
            elif (not meta["nillable"] and meta["createable"] and not meta["defaultedOnCreate"]):
                errors.append(err("REQUIRED_FIELD_MISSING",
                                  f"Required fields are missing: [{name}]", [name]))
        if errors:
            return None, errors
        rec["Id"] = self.store.new_sf_id(obj)
        user = ACTING_USER.get()
        rec.update(CreatedDate=now, LastModifiedDate=now, SystemModstamp=now, IsDeleted=False,
                   CreatedById=user, LastModifiedById=user)
        if "Name" in {f["name"] for f in self.describes[obj]["fields"]}:
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        errors = self._check_unique(obj, rec)
        if errors:
            return None, errors
        self._stage(obj, rec, None)
        return rec, []

    def update(self, obj: str, rid: str, data: dict[str, Any]
               ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        current = self.get(obj, rid) if rid else None
        if current is None:
            deleted = self.store.sf_get(obj, rid, deleted=True) if rid else None
            if deleted is not None:
                return None, [err("ENTITY_IS_DELETED", "entity is deleted")]
            return None, [err("INVALID_CROSS_REFERENCE_KEY" if rid and _ID.match(rid)
                              else "MALFORMED_ID", f"invalid cross reference id", ["Id"])]
        data = {k: v for k, v in data.items() if k.lower() != "id"}
        values, errors = self.coerce(obj, data, creating=False)
        if errors:
            return None, errors
        rec = dict(current)
        rec.update(values)
        if "Name" in rec and ("FirstName" in values or "LastName" in values):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        now = self.store.now_sf()
        rec.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=ACTING_USER.get())
        errors = self._check_unique(obj, rec)
        if errors:
            return None, errors
        self._stage(obj, rec, current)
        return rec, []

    def upsert(self, obj: str, fname: str, value: str, data: dict[str, Any]
               ) -> tuple[dict[str, Any] | None, bool, list[dict[str, Any]]]:
        """(record, created, errors) for an upsert keyed on external id field `fname`."""
        fields = self.fields_of(obj)
        meta = fields.get(fname.lower())
        if meta is None:
            return None, False, [err("NOT_FOUND", f"Provided external ID field does not exist or"
                                     f" is not accessible: {fname}")]
        if meta["name"] == "Id":
            rec, errors = self.update(obj, value, data)
            return rec, False, errors
        if not meta["externalId"]:
            return None, False, [err("INVALID_FIELD", f"Field {meta['name']} is not an external "
                                     "id field", [meta["name"]])]
        data = {k: v for k, v in data.items() if k.lower() != fname.lower()}
        existing = self.find_by(obj, meta["name"], value)
        if existing is not None:
            rec, errors = self.update(obj, existing["Id"], data)
            return rec, False, errors
        rec, errors = self.create(obj, {**data, meta["name"]: value})
        return rec, True, errors

    def delete(self, obj: str, rid: str) -> list[dict[str, Any]]:
        current = self.get(obj, rid)
        if current is None:
            if self.store.sf_get(obj, rid, deleted=True) is not None:
                return [err("ENTITY_IS_DELETED", "entity is deleted")]
            return [err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        rec = dict(current, IsDeleted=True)
        now = self.store.now_sf()
        rec.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=ACTING_USER.get())
        self._stage(obj, rec, current)
        for meta in self.describes[obj]["fields"]:
            if meta["unique"] and current.get(meta["name"]) is not None:
                self._index(obj, meta["name"]).pop(str(current[meta["name"]]).lower(), None)
        return []

    def commit(self) -> None:
        by_obj: dict[str, list[dict[str, Any]]] = {}
        for (obj, _rid), rec in self.pending.items():
            by_obj.setdefault(obj, []).append(rec)
        for obj, records in by_obj.items():
            self.store.sf_put(obj, records)
        self.pending.clear()
