"""HubSpot CRM v3 object routes of the sandbox: contacts / emails / tasks basic get, list
(`get_page` paging), create, update, archive, and batch read / create / update / upsert / archive
(at most 100 inputs; per-input failures answer 207 with `errors[]`), plus the properties API.
Property values are checked against the property definitions; `updatedAt` is maintained; a
contact's `email` is stored trimmed and lower-cased, and found case-insensitively, as HubSpot does.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from typing import Any

from sandbox.http import Abort, BadJson, Request, Response, Router, guarded
from sandbox.store import HS_EMAIL_PROPS, HS_UNIQUE, hs_datetime, hs_email, parse_dt

V3 = r"/crm/v3/objects/(?P<obj>[\w-]+)"
MAX_BATCH = 100
OBJECT_IDS = {"0-1": "contacts", "0-49": "emails", "0-27": "tasks", "contact": "contacts",
              "email": "emails", "task": "tasks"}
DEFAULT_PROPS = {"contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                              "lastname"],
                 "emails": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
                 "tasks": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"]}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hs_error(status: int, category: str, message: str, **extra: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category, **extra}
    return Response(status, body)


def object_name(app: Any, raw: str) -> str:
    name = OBJECT_IDS.get(raw.lower(), raw.lower())
    if name not in app.store.hs:
        raise Abort(hs_error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}"))
    return name


def body_of(req: Request) -> Any:
    try:
        body = req.json()
    except BadJson as exc:
        raise Abort(hs_error(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: {exc}"))
    if not isinstance(body, dict):
        raise Abort(hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object"))
    return body


def sort_key(rid: str) -> tuple[int, int, str]:
    return (0, int(rid), "") if rid.isdigit() else (1, 0, rid)


# ---- property values --------------------------------------------------------------------------
def _invalid(name: str, code: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": code, "name": name,
            "localizedErrorMessage": message}


def coerce(app: Any, obj: str, props: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Stored (string) values of `props`, or the property validation errors."""
    defs = app.hs_props[obj]
    out: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for name, value in (props or {}).items():
        meta = defs.get(name)
        if meta is None:
            problems.append(_invalid(name, "PROPERTY_DOESNT_EXIST",
                                     f'Property "{name}" does not exist'))
            continue
        if meta["modificationMetadata"]["readOnlyValue"]:
            problems.append(_invalid(name, "READ_ONLY_VALUE", f'"{name}" is a read only property;'
                                     " its value cannot be set."))
            continue
        if value is None or value == "":
            out[name] = None
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if name in HS_EMAIL_PROPS.get(obj, ()):
            text = hs_email(text)  # HubSpot stores a contact email trimmed and lower-cased
            if text is None:
                out[name] = None
                continue
        ptype, ftype = meta["type"], meta["fieldType"]
        bad = None
        if ptype == "number":
            try:
                float(text)
            except ValueError:
                bad = ("INVALID_DOUBLE", f"{text} was not a valid number.")
        elif ptype == "bool" or ftype == "booleancheckbox":
            if text.lower() not in ("true", "false"):
                bad = ("INVALID_BOOLEAN", f"{text} was not a valid boolean.")
            text = text.lower()
        elif ptype == "enumeration":
            allowed = [o["value"] for o in meta["options"]]
            parts = text.split(";") if ftype == "checkbox" else [text]
            wrong = [p for p in parts if p not in allowed]
            if wrong:
                bad = ("INVALID_OPTION", f'{wrong[0]} was not one of the allowed options: '
                       f'[{", ".join(allowed)}]')
        elif ptype == "date":
            parsed = parse_dt(text) if text.isdigit() else None
            try:
                text = parsed.date().isoformat() if parsed else date.fromisoformat(text).isoformat()
            except ValueError:
                bad = ("INVALID_DATE", f"{text} is not a valid date (YYYY-MM-DD or epoch "
                       "milliseconds at midnight UTC).")
        elif ptype == "datetime":
            parsed = parse_dt(text)
            if parsed is None:
                try:
                    parsed = parse_dt(date.fromisoformat(text).isoformat() + "T00:00:00Z")
                except ValueError:
                    parsed = None
            if parsed is None:
                bad = ("INVALID_DATETIME", f"{text} is not a valid datetime.")
            else:
                text = hs_datetime(parsed)
        elif name == "email" and not _EMAIL.match(text):
            bad = ("INVALID_EMAIL", f"Email address {text} is invalid")
        if bad:
            problems.append(_invalid(name, *bad))
        else:
            out[name] = text
    return out, problems


def validation_failure(problems: list[dict[str, Any]]) -> Response:
    return hs_error(400, "VALIDATION_ERROR",
                    "Property values were not valid: " + json.dumps(problems),
                    errors=[{"message": p["message"], "code": p["error"],
                             "context": {"propertyName": [p["name"]]}} for p in problems])


def unique_props(app: Any, obj: str) -> list[str]:
    return HS_UNIQUE.get(obj, [])


def find_by(app: Any, obj: str, prop: str, value: str) -> dict[str, Any] | None:
    if prop in ("hs_object_id", "id", ""):
        rec = app.store.hs[obj].get(str(value))
        return rec if rec and not rec.get("archived") else None
    if prop in unique_props(app, obj):
        return app.store.hs_lookup(obj, prop, value)
    value = str(value).lower()
    for rec in app.store.hs[obj].values():
        have = rec["properties"].get(prop)
        if not rec.get("archived") and have is not None and str(have).lower() == value:
            return rec
    return None


# ---- record views -------------------------------------------------------------------------------
def view(app: Any, obj: str, rec: dict[str, Any], props: list[str] | None,
         associations: list[str] | None = None, new: bool | None = None) -> dict[str, Any]:
    names = DEFAULT_PROPS[obj] if not props else sorted(set(props) | {"hs_object_id"} | (
        {"createdate", "lastmodifieddate"} if obj == "contacts" else
        {"hs_createdate", "hs_lastmodifieddate"}))
    out: dict[str, Any] = {"id": rec["id"],
                           "properties": {n: rec["properties"].get(n) for n in names
                                          if n in app.hs_props[obj]},
                           "createdAt": rec["createdAt"], "updatedAt": rec["updatedAt"],
                           "archived": bool(rec.get("archived"))}
    if new is not None:
        out["new"] = new
    if associations:
        assoc = {}
        for to in associations:
            to_name = OBJECT_IDS.get(to, to)
            ids = rec.get("associations", {}).get(to_name, [])
            if ids:
                assoc[to_name] = {"results": [{"id": i, "type": f"{obj[:-1]}_to_{to_name[:-1]}"}
                                              for i in ids]}
        if assoc:
            out["associations"] = assoc
    return out


def _stamp(app: Any, obj: str, rec: dict[str, Any]) -> None:
    now = app.store.now_hs()
    rec["updatedAt"] = now
    rec["properties"]["lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"] = now


def new_record(app: Any, obj: str, values: dict[str, Any]) -> dict[str, Any]:
    rid = app.store.new_hs_id()
    now = app.store.now_hs()
    created = "createdate" if obj == "contacts" else "hs_createdate"
    props = {k: v for k, v in values.items() if v is not None}
    props.update({"hs_object_id": rid, created: now})
    rec = {"id": rid, "properties": props, "createdAt": now, "updatedAt": now,
           "archived": False, "associations": {}}
    _stamp(app, obj, rec)
    return rec


def conflict(app: Any, obj: str, values: dict[str, Any], own_id: str | None,
             pending: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A StandardError if a unique property of `values` is taken by another record."""
    for prop in unique_props(app, obj):
        value = values.get(prop)
        if value is None:
            continue
        other = find_by(app, obj, prop, value)
        taken = [r for r in pending.values() if r["id"] != own_id
                 and str(r["properties"].get(prop) or "").lower() == str(value).lower()]
        if (other and other["id"] != own_id) or taken:
            other_id = other["id"] if other and other["id"] != own_id else taken[0]["id"]
            return std_error("CONFLICT", f"{obj[:-1].capitalize()} already exists. Existing ID: "
                             f"{other_id}", {"id": [other_id], "property": [prop]})
    return None


def std_error(category: str, message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message, "context": context,
            "errors": [], "links": {}}


def batch_response(app: Any, status: int, results: list[dict[str, Any]],
                   errors: list[dict[str, Any]], started: str) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                            "completedAt": app.store.now_hs()}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        status = 207
    return Response(status, body, records=len(results))


from sandbox import hubspot_batch, hubspot_search  # noqa: E402  (they use the helpers above)


def register(router: Router) -> None:
    for method, pattern, handler, name in (hubspot_batch.ROUTES + hubspot_search.ROUTES):
        router.add(method, pattern, guarded(handler), name)
