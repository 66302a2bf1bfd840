"""Salesforce `composite/sobjects` routes of the sandbox: create (POST), update (PATCH), upsert
(PATCH `.../<SObject>/<ExternalIdField>`), delete (DELETE `?ids=`) and retrieve (GET / POST
`.../<SObject>`), at most 200 records, with `allOrNone` and per-record `statusCode` errors.
"""

from __future__ import annotations

from typing import Any

from sandbox.http import Request, Response
from sandbox.salesforce import MAX_COMPOSITE, _body, _describe, _project, sf_error
from sandbox.sf_records import SfWriter, err

_ROLLED_BACK = err("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all "
                   "records were valid and the request was using AllOrNone header")


def _records(req: Request) -> tuple[list[Any], bool, Response | None]:
    body = _body(req)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return [], False, sf_error(400, "JSON_PARSER_ERROR", "The request body must be an "
                                   "object with a 'records' array")
    records = body["records"]
    if len(records) > MAX_COMPOSITE:
        return [], False, sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot "
                                   f"submit more than {MAX_COMPOSITE} records into this call")
    return records, bool(body.get("allOrNone", False)), None


def _type_of(app: Any, rec: Any, fixed: str | None = None) -> tuple[str | None, dict[str, Any]]:
    if not isinstance(rec, dict):
        return None, err("JSON_PARSER_ERROR", "each record must be a JSON object")
    name = fixed or (rec.get("attributes") or {}).get("type")
    if not name:
        return None, err("INVALID_TYPE", "Must specify a type in attributes")
    d = _describe(app, name)
    if d is None:
        return None, err("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return d["name"], {}


def _finish(app: Any, writer: SfWriter, results: list[dict[str, Any]], all_or_none: bool
            ) -> Response:
    failed = any(not r["success"] for r in results)
    if all_or_none and failed:
        for r in results:
            if r["success"] or not r["errors"]:
                r.update(id=None, success=False, errors=[dict(_ROLLED_BACK)])
                r.pop("created", None)
        written = 0
    else:
        writer.commit()
        written = sum(1 for r in results if r["success"])
    return Response(200, results, records=written)


def _run(app: Any, req: Request, op: str, obj: str | None = None, field: str | None = None
         ) -> Response:
    records, all_or_none, problem = _records(req)
    if problem:
        return problem
    writer = SfWriter(app.store, app.describes)
    results: list[dict[str, Any]] = []
    for rec in records:
        name, error = _type_of(app, rec, obj)
        result: dict[str, Any] = {"id": None, "success": False, "errors": []}
        if op == "upsert":
            result["created"] = False
        if error:
            result["errors"] = [error]
        elif app.reject("salesforce", req):
            result["id"] = rec.get("Id")
            result["errors"] = [err("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access "
                                    "to this record or 1 records: " + str(rec.get("Id") or ""))]
        elif op == "create":
            saved, errors = writer.create(name, rec)
            result.update(id=saved and saved["Id"], success=not errors, errors=errors)
        elif op == "update":
            rid = next((v for k, v in rec.items() if k.lower() == "id"), None)
            if not rid:
                result["errors"] = [err("MISSING_ARGUMENT", "Id not specified in an update call")]
            else:
                saved, errors = writer.update(name, str(rid), rec)
                result.update(id=str(rid) if errors else saved["Id"], success=not errors,
                              errors=errors)
        else:
            key = next((k for k in rec if k.lower() == (field or "").lower()), None)
            if key is None or rec[key] in (None, ""):
                result["errors"] = [err("MISSING_ARGUMENT", f"{field} not specified")]
            else:
                saved, created, errors = writer.upsert(name, field or "", str(rec[key]), rec)
                result.update(id=saved and saved["Id"], success=not errors, errors=errors,
                              created=created and not errors)
        results.append(result)
    return _finish(app, writer, results, all_or_none)


def create(app: Any, req: Request, version: str) -> Response:
    return _run(app, req, "create")


def update(app: Any, req: Request, version: str) -> Response:
    return _run(app, req, "update")


def upsert(app: Any, req: Request, version: str, obj: str, field: str) -> Response:
    if _describe(app, obj) is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    return _run(app, req, "upsert", obj, field)


def delete(app: Any, req: Request, version: str) -> Response:
    ids = req.args("ids")
    if len(ids) > MAX_COMPOSITE:
        return sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                        f"{MAX_COMPOSITE} records into this call")
    all_or_none = (req.arg("allOrNone") or "false").lower() == "true"
    writer = SfWriter(app.store, app.describes)
    results = []
    for rid in ids:
        found = app.store.sf_find(rid)
        errors = writer.delete(found[0], rid) if found else [
            err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        results.append({"id": rid if not errors else None, "success": not errors,
                        "errors": errors})
    return _finish(app, writer, results, all_or_none)


def retrieve(app: Any, req: Request, version: str, obj: str) -> Response:
    d = _describe(app, obj)
    if d is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    body = _body(req) if req.method == "POST" else None
    ids = (body or {}).get("ids") or req.args("ids")
    wanted = (body or {}).get("fields") or req.args("fields")
    canon = {f["name"].lower(): f["name"] for f in d["fields"]}
    bad = [w for w in wanted if w.lower() not in canon]
    if bad or not wanted:
        return sf_error(400, "INVALID_FIELD", f"No such column '{bad[0] if bad else ''}' on "
                        f"entity '{d['name']}'.")
    if len(ids) > 2000:
        return sf_error(400, "EXCEEDED_ID_LIMIT", "cannot retrieve more than 2000 records")
    names = [canon[w.lower()] for w in wanted]
    out = []
    for rid in ids:
        rec = app.store.sf_get(d["name"], rid)
        out.append(_project(version, d["name"], rec, names) if rec else None)
    return Response(200, out, records=sum(1 for r in out if r))


ROUTES = [
    ("POST", r"/composite/sobjects/?", create, "sf.composite.create"),
    ("PATCH", r"/composite/sobjects/?", update, "sf.composite.update"),
    ("DELETE", r"/composite/sobjects/?", delete, "sf.composite.delete"),
    ("PATCH", r"/composite/sobjects/(?P<obj>\w+)/(?P<field>\w+)/?", upsert,
     "sf.composite.upsert"),
    ("GET", r"/composite/sobjects/(?P<obj>\w+)/?", retrieve, "sf.composite.retrieve"),
    ("POST", r"/composite/sobjects/(?P<obj>\w+)/?", retrieve, "sf.composite.retrieve"),
]
