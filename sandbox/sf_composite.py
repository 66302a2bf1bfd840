"""Salesforce Composite routes of the sandbox.

`composite/sobjects` (sObject Collections): create (POST), update (PATCH), upsert (PATCH
`.../<SObject>/<ExternalIdField>`), delete (DELETE `?ids=`) and retrieve (GET / POST
`.../<SObject>`), at most 200 records, with `allOrNone` and per-record `statusCode` errors.

`composite` (POST `{"allOrNone", "compositeRequest": [{"method", "url", "referenceId", "body",
"httpHeaders"}]}`): up to 25 subrequests run in order through the same routes, of which at most 5
sObject Collections or query / queryAll subrequests; `@{referenceId.path}` in a later
subrequest's url or body is replaced by a value of an earlier response (`.field`, `[index]`); a
subrequest whose reference cannot be resolved fails with `PROCESSING_HALTED`; with `allOrNone`
the first failing subrequest rolls back every write of the request and the others answer 400
`PROCESSING_HALTED`. The whole request counts as ONE call against the daily API allowance.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


# ---- composite ----------------------------------------------------------------------------------
MAX_SUBREQUESTS = 25
MAX_HEAVY = 5  # sObject Collections or query / queryAll subrequests in one composite request
_HEAVY = re.compile(r"^/services/data/v\d+\.\d/(?:composite/sobjects|query|queryAll)(?:/|$)")
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_REF_ID = re.compile(r"^[A-Za-z0-9_]+$")
_HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    pass


def _resolve(text: str, done: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        ref, path = m.group(1), m.group(2)
        if ref not in done:
            raise _Unresolved(f"Invalid reference specified. No value for {ref}{path} found in "
                              f"{ref}. Provided referenceId ({ref}) must be a previous "
                              "successful subrequest.")
        value: Any = done[ref]
        for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
            try:
                value = value[step[0]] if step[0] else value[int(step[1])]
            except (KeyError, IndexError, TypeError):
                raise _Unresolved(f"Invalid reference specified. No value for {ref}{path} found "
                                  f"in {ref}.") from None
        return value if isinstance(value, str) else json.dumps(value)
    return _REF.sub(one, text)


def _resolve_body(value: Any, done: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _resolve(value, done)
    if isinstance(value, dict):
        return {k: _resolve_body(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_body(v, done) for v in value]
    return value


def _halted(ref: str, message: str = _HALTED) -> dict[str, Any]:
    return {"body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
            "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref}


def _check(body: Any) -> Response | None:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        return sf_error(400, "JSON_PARSER_ERROR", "The request body must be an object with a "
                        "'compositeRequest' array")
    subs = body["compositeRequest"]
    if not subs:
        return sf_error(400, "INVALID_INPUT", "compositeRequest can't be empty")
    if len(subs) > MAX_SUBREQUESTS:
        return sf_error(400, "LIMIT_EXCEEDED", f"Composite requests can't have more than "
                        f"{MAX_SUBREQUESTS} subrequests (got {len(subs)})")
    refs: set[str] = set()
    heavy = 0
    for sub in subs:
        if not isinstance(sub, dict) or not all(isinstance(sub.get(k), str) and sub.get(k)
                                                for k in ("method", "url", "referenceId")):
            return sf_error(400, "JSON_PARSER_ERROR", "Each subrequest needs method, url and "
                            "referenceId")
        if not _REF_ID.match(sub["referenceId"]):
            return sf_error(400, "JSON_PARSER_ERROR", f"Invalid referenceId "
                            f"'{sub['referenceId']}': use letters, numbers and underscores only")
        if sub["referenceId"] in refs:
            return sf_error(400, "DUPLICATE_VALUE", f"Duplicate referenceId provided in the "
                            f"request: {sub['referenceId']}")
        refs.add(sub["referenceId"])
        if _HEAVY.match(urlsplit(sub["url"]).path):
            heavy += 1
    if heavy > MAX_HEAVY:
        return sf_error(400, "LIMIT_EXCEEDED", f"Composite requests can't have more than "
                        f"{MAX_HEAVY} sObject Collections or query subrequests (got {heavy})")
    return None


def composite(app: Any, req: Request, version: str) -> Response:
    body = _body(req)
    problem = _check(body)
    if problem:
        return problem
    all_or_none = bool(body.get("allOrNone", False))
    subs = body["compositeRequest"]
    done: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    records = 0
    failed_at: int | None = None
    if all_or_none:
        app.store.begin_journal()
    try:
        for index, sub in enumerate(subs):
            ref = sub["referenceId"]
            try:
                url = _resolve(sub["url"], done)
                payload = _resolve_body(sub.get("body"), done)
            except _Unresolved as exc:
                out.append(_halted(ref, str(exc)))
                failed_at = index if failed_at is None else failed_at
                if all_or_none:
                    break
                continue
            parts = urlsplit(url)
            headers = {**req.headers, **{str(k).lower(): str(v) for k, v in
                                         (sub.get("httpHeaders") or {}).items()}}
            subreq = Request(sub["method"].upper(), parts.path,
                             parse_qs(parts.query, keep_blank_values=True), headers,
                             b"" if payload is None else json.dumps(payload).encode(),
                             raw_query=parts.query)
            handler, params, name, known = app.sf_router.match(subreq.method, subreq.path)
            if handler is None or name == "sf.composite":
                response = sf_error(405 if known else 404, "METHOD_NOT_ALLOWED" if known else
                                    "NOT_FOUND", "The requested resource does not exist")
            else:
                try:
                    response = handler(app, subreq, **params)
                except Exception as exc:  # noqa: BLE001 - a sandbox bug answers as Salesforce would
                    response = sf_error(500, "UNKNOWN_EXCEPTION", f"{type(exc).__name__}: {exc}")
            req.rejected += subreq.rejected
            records += response.records
            answer = response.body
            if isinstance(answer, bytes):
                answer = answer.decode("utf-8", "replace")
            out.append({"body": answer, "httpHeaders": {k: v for k, v in response.headers.items()
                                                        if k.lower() != "content-type"},
                        "httpStatusCode": response.status, "referenceId": ref})
            if response.status < 400:
                done[ref] = answer
            else:
                failed_at = index if failed_at is None else failed_at
                if all_or_none:
                    break
        if all_or_none and failed_at is not None:
            app.store.rollback()
            records = 0
            first = out[failed_at]
            out = [first if i == failed_at else _halted(s["referenceId"])
                   for i, s in enumerate(subs)]
    finally:
        app.store.end_journal()
    return Response(200, {"compositeResponse": out}, records=records)


ROUTES = [
    ("POST", r"/composite/?", composite, "sf.composite"),
    ("POST", r"/composite/sobjects/?", create, "sf.composite.create"),
    ("PATCH", r"/composite/sobjects/?", update, "sf.composite.update"),
    ("DELETE", r"/composite/sobjects/?", delete, "sf.composite.delete"),
    ("PATCH", r"/composite/sobjects/(?P<obj>\w+)/(?P<field>\w+)/?", upsert,
     "sf.composite.upsert"),
    ("GET", r"/composite/sobjects/(?P<obj>\w+)/?", retrieve, "sf.composite.retrieve"),
    ("POST", r"/composite/sobjects/(?P<obj>\w+)/?", retrieve, "sf.composite.retrieve"),
]
