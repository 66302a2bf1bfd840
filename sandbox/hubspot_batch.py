"""HubSpot object routes of the sandbox: basic (get, list, create, update, archive), batch (read,
create, update, upsert, archive) and properties. Helpers live in `sandbox.hubspot`."""

from __future__ import annotations

from typing import Any

from sandbox.http import Abort, Request, Response
from sandbox.hubspot import (MAX_BATCH, V3, batch_response, body_of, coerce, conflict,
                             find_by, hs_error, new_record, object_name, sort_key, std_error,
                             validation_failure, view, _stamp)
from sandbox.hubspot_search import apply_associations
from sandbox.store import HS_EMAIL_PROPS, hs_email


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise Abort(hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a "
                             "list of objects"))
    if len(inputs) > MAX_BATCH:
        raise Abort(hs_error(400, "VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds "
                             f"maximum of {MAX_BATCH} inputs", context={"inputs": [str(len(
                                 inputs))]}))
    return inputs


def _validate_all(app: Any, obj: str, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Property values of every input; any invalid value fails the whole call (as HubSpot)."""
    out, problems = [], []
    for item in inputs:
        values, bad = coerce(app, obj, item.get("properties"))
        out.append(values)
        problems.extend(bad)
    if problems:
        raise Abort(validation_failure(problems))
    return out


def _require_timestamp(obj: str, values: dict[str, Any]) -> None:
    if obj in ("emails", "tasks") and not values.get("hs_timestamp"):
        raise Abort(validation_failure([{
            "isValid": False, "message": "hs_timestamp is required", "error": "REQUIRED_FIELD",
            "name": "hs_timestamp", "localizedErrorMessage": "hs_timestamp is required"}]))


def _not_found(obj: str, ids: list[str]) -> dict[str, Any]:
    return std_error("OBJECT_NOT_FOUND", f"Could not get some {obj[:-1].upper()} objects, they "
                     "may be deleted or not exist. Check that ids are valid.", {"ids": ids})


# ---- basic ------------------------------------------------------------------------------------
def get_page(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    limit = max(1, min(int(req.arg("limit", "10") or 10), 100))
    after = req.arg("after")
    archived = (req.arg("archived") or "false").lower() == "true"
    rows = sorted((r for r in app.store.hs[obj].values() if bool(r.get("archived")) == archived),
                  key=lambda r: sort_key(r["id"]))
    if after:
        rows = [r for r in rows if sort_key(r["id"]) >= sort_key(after)]
    page = rows[:limit]
    props, assoc = req.args("properties"), req.args("associations")
    body: dict[str, Any] = {"results": [view(app, obj, r, props, assoc) for r in page]}
    if len(rows) > limit:
        nxt = rows[limit]["id"]
        body["paging"] = {"next": {"after": nxt, "link": f"{app.base_url}/crm/v3/objects/{obj}"
                                                         f"?limit={limit}&after={nxt}"}}
    return Response(200, body, records=len(page))


def get_one(app: Any, req: Request, obj: str, rid: str) -> Response:
    obj = object_name(app, obj)
    rec = find_by(app, obj, req.arg("idProperty") or "", rid)
    if rec is None:
        return hs_error(404, "OBJECT_NOT_FOUND", "resource not found")
    return Response(200, view(app, obj, rec, req.args("properties"), req.args("associations")),
                    records=1)


_LOCKED = "The record is locked by another request; retry later."


def _problem(app: Any, req: Request, obj: str, values: dict[str, Any], own_id: str | None,
             pending: dict[str, dict[str, Any]], context: dict[str, list[str]]) -> dict[str, Any] | None:
    """The StandardError of one batch input: a unique property taken by another record, else a row
    lock injected by a fault (with `context`); None when the input may be written."""
    problem = conflict(app, obj, values, own_id, pending)
    if problem is None and app.reject("hubspot", req):
        problem = std_error("LOCKED", _LOCKED, context)
    return problem


def create(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    body = body_of(req)
    values = _validate_all(app, obj, [body])[0]
    _require_timestamp(obj, values)
    problem = conflict(app, obj, values, None, {})
    if problem:
        return hs_error(409, "CONFLICT", problem["message"])
    if app.reject("hubspot", req):
        return hs_error(423, "LOCKED", _LOCKED)
    rec = new_record(app, obj, values)
    apply_associations(app, obj, rec, body.get("associations"))
    app.store.hs_put(obj, [rec])
    return Response(201, view(app, obj, rec, list(values)), records=1)


def update(app: Any, req: Request, obj: str, rid: str) -> Response:
    obj = object_name(app, obj)
    body = body_of(req)
    rec = find_by(app, obj, req.arg("idProperty") or "", rid)
    if rec is None:
        return hs_error(404, "OBJECT_NOT_FOUND", "resource not found")
    values = _validate_all(app, obj, [body])[0]
    problem = conflict(app, obj, values, rec["id"], {})
    if problem:
        return hs_error(409, "CONFLICT", problem["message"])
    if app.reject("hubspot", req):
        return hs_error(423, "LOCKED", _LOCKED)
    rec = {**rec, "properties": {**rec["properties"], **values}}
    _stamp(app, obj, rec)
    app.store.hs_put(obj, [rec])
    return Response(200, view(app, obj, rec, list(values)), records=1)


def archive(app: Any, req: Request, obj: str, rid: str) -> Response:
    obj = object_name(app, obj)
    rec = app.store.hs[obj].get(rid)
    if rec is not None and not rec.get("archived"):
        rec = dict(rec, archived=True)
        _stamp(app, obj, rec)
        app.store.hs_put(obj, [rec])
    return Response(204, records=1 if rec else 0)


# ---- batch ------------------------------------------------------------------------------------
def batch_read(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    started = app.store.now_hs()
    body = body_of(req)
    inputs = _inputs(body)
    prop = body.get("idProperty") or ""
    results, missing = [], []
    for item in inputs:
        rec = find_by(app, obj, prop, str(item.get("id", "")))
        if rec is None:
            missing.append(str(item.get("id", "")))
        else:
            results.append(view(app, obj, rec, body.get("properties") or []))
    errors = [_not_found(obj, missing)] if missing else []
    return batch_response(app, 200, results, errors, started)


def batch_create(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    started = app.store.now_hs()
    inputs = _inputs(body_of(req))
    all_values = _validate_all(app, obj, inputs)
    for values in all_values:
        _require_timestamp(obj, values)
    results, errors, pending = [], [], {}
    for item, values in zip(inputs, all_values):
        problem = _problem(app, req, obj, values, None, pending,
                           {"objectWriteTraceId": [str(item.get("objectWriteTraceId", ""))]})
        if problem:
            errors.append(problem)
            continue
        rec = new_record(app, obj, values)
        apply_associations(app, obj, rec, item.get("associations"))
        pending[rec["id"]] = rec
        results.append(view(app, obj, rec, list(values)))
    app.store.hs_put(obj, pending.values())
    return batch_response(app, 201, results, errors, started)


def batch_update(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    started = app.store.now_hs()
    inputs = _inputs(body_of(req))
    all_values = _validate_all(app, obj, inputs)
    results, errors, pending, missing = [], [], {}, []
    for item, values in zip(inputs, all_values):
        rid = str(item.get("id", ""))
        rec = pending.get(rid) or find_by(app, obj, item.get("idProperty") or "", rid)
        if rec is None:
            missing.append(rid)
            continue
        problem = _problem(app, req, obj, values, rec["id"], pending, {"ids": [rid]})
        if problem:
            errors.append(problem)
            continue
        rec = {**rec, "properties": {**rec["properties"], **values}}
        _stamp(app, obj, rec)
        pending[rec["id"]] = rec
        results.append(view(app, obj, rec, list(values)))
    if missing:
        errors.insert(0, _not_found(obj, missing))
    app.store.hs_put(obj, pending.values())
    return batch_response(app, 200, results, errors, started)


def batch_upsert(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    started = app.store.now_hs()
    inputs = _inputs(body_of(req))
    all_values = _validate_all(app, obj, inputs)
    results, errors, pending = [], [], {}
    for item, values in zip(inputs, all_values):
        prop, key = item.get("idProperty") or "hs_object_id", str(item.get("id", ""))
        if prop in HS_EMAIL_PROPS.get(obj, ()):
            key = hs_email(key) or ""
        meta = app.hs_props[obj].get(prop)
        if meta is None or not (meta["hasUniqueValue"] or prop in ("email", "hs_object_id")):
            raise Abort(hs_error(400, "VALIDATION_ERROR", f"Property {prop} is not a unique "
                                 "identifier property"))
        rec = next((r for r in pending.values()
                    if str(r["properties"].get(prop) or "").lower() == key.lower()), None)
        rec = rec or find_by(app, obj, prop, key)
        is_new = rec is None
        if is_new and prop == "hs_object_id":
            errors.append(_not_found(obj, [key]))
            continue
        if is_new:
            values = {**values, prop: key}
            _require_timestamp(obj, values)
        problem = _problem(app, req, obj, values, None if is_new else rec["id"], pending, {"ids": [key]})
        if problem:
            errors.append(problem)
            continue
        if is_new:
            rec = new_record(app, obj, values)
        else:
            rec = {**rec, "properties": {**rec["properties"], **values}}
            _stamp(app, obj, rec)
        pending[rec["id"]] = rec
        results.append(view(app, obj, rec, list(values), new=is_new))
    app.store.hs_put(obj, pending.values())
    return batch_response(app, 200, results, errors, started)


def batch_archive(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    inputs = _inputs(body_of(req))
    changed = []
    for item in inputs:
        rec = app.store.hs[obj].get(str(item.get("id", "")))
        if rec is not None and not rec.get("archived"):
            rec = dict(rec, archived=True)
            _stamp(app, obj, rec)
            changed.append(rec)
    app.store.hs_put(obj, changed)
    return Response(204, records=len(changed))


# ---- properties -------------------------------------------------------------------------------
def properties(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    results = list(app.hs_props[obj].values())
    return Response(200, {"results": results}, records=len(results))


def property_one(app: Any, req: Request, obj: str, name: str) -> Response:
    obj = object_name(app, obj)
    prop = app.hs_props[obj].get(name)
    if prop is None:
        return hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} on {obj}")
    return Response(200, prop, records=1)


ROUTES = [
    ("GET", V3 + r"/?", get_page, "hs.get_page"),
    ("POST", V3 + r"/?", create, "hs.create"),
    ("POST", V3 + r"/batch/read", batch_read, "hs.batch.read"),
    ("POST", V3 + r"/batch/create", batch_create, "hs.batch.create"),
    ("POST", V3 + r"/batch/update", batch_update, "hs.batch.update"),
    ("POST", V3 + r"/batch/upsert", batch_upsert, "hs.batch.upsert"),
    ("POST", V3 + r"/batch/archive", batch_archive, "hs.batch.archive"),
    ("GET", V3 + r"/(?P<rid>[^/]+)", get_one, "hs.get"),
    ("PATCH", V3 + r"/(?P<rid>[^/]+)", update, "hs.update"),
    ("DELETE", V3 + r"/(?P<rid>[^/]+)", archive, "hs.archive"),
    ("GET", r"/crm/v3/properties/(?P<obj>[\w-]+)/?", properties, "hs.properties"),
    ("GET", r"/crm/v3/properties/(?P<obj>[\w-]+)/(?P<name>\w+)", property_one, "hs.property"),
]
