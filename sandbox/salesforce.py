"""Salesforce REST routes of the sandbox, under `/services/data/vXX.X/`: query / queryAll with
paging through `nextRecordsUrl`, sObject get / create / update / upsert / delete, describe, and
`composite/sobjects` create / update / upsert / delete / retrieve, all in the real wire format.
"""

from __future__ import annotations

import secrets
from typing import Any

from sandbox import soql
from sandbox.http import Abort, BadJson, Request, Response, Router, guarded
from sandbox.sf_records import ACTING_USER, SfWriter, err
from sandbox.store import UI_USER_ID

API = r"/services/data/v(?P<version>\d+\.\d)"
MAX_COMPOSITE = 200
DEFAULT_PAGE = 2000


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields:
        body["fields"] = fields
    return Response(status, [body])


def _first_error(errors: list[dict[str, Any]]) -> Response:
    e = errors[0]
    status = 404 if e["statusCode"] in ("NOT_FOUND", "ENTITY_IS_DELETED") else 400
    return sf_error(status, e["statusCode"], e["message"], e["fields"])


def _describe(app: Any, name: str) -> dict[str, Any] | None:
    for key, describe in app.describes.items():
        if key.lower() == name.lower():
            return describe
    return None


def _attributes(version: str, obj: str, rid: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{rid}"}


def _project(version: str, obj: str, rec: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": _attributes(version, obj, rec["Id"])}
    for name in fields:
        out[name] = rec.get(name)
    return out


def _body(req: Request) -> Any:
    try:
        return req.json()
    except BadJson as exc:
        raise Abort(sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")) from exc


def _obj(app: Any, name: str) -> dict[str, Any]:
    describe = _describe(app, name)
    if describe is None:
        raise Abort(sf_error(404, "NOT_FOUND", "The requested resource does not exist"))
    return describe


# ---- discovery ------------------------------------------------------------------------------
def versions(app: Any, req: Request) -> Response:
    return Response(200, [{"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"},
                          {"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"}])


def resources(app: Any, req: Request, version: str) -> Response:
    base = f"/services/data/v{version}"
    return Response(200, {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "composite",
                                                     "limits")})


def limits(app: Any, req: Request, version: str) -> Response:
    used = app.usage["salesforce"] + 1  # this call counts too
    return Response(200, {
        "DailyApiRequests": {"Max": app.api_limit, "Remaining": max(app.api_limit - used, 0)},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - app.bulk_usage("query_jobs")},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - app.bulk_usage("batches")},
        "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562}})


def userinfo(app: Any, req: Request) -> Response:
    """The OpenID Connect userinfo of the session's user (the identity service)."""
    from sandbox.sf_login import ORG_ID

    user = ACTING_USER.get()
    return Response(200, {"sub": f"{app.base_url}/id/{ORG_ID}/{user}", "user_id": user,
                          "organization_id": ORG_ID, "active": True, "user_type": "STANDARD",
                          "preferred_username": "integration@sandbox.example" if user != UI_USER_ID
                          else "person@sandbox.example"})


def describe_global(app: Any, req: Request, version: str) -> Response:
    sobjects = [{k: d[k] for k in ("name", "label", "labelPlural", "keyPrefix", "custom",
                                   "createable", "updateable", "deletable", "queryable", "urls")}
                for d in app.describes.values()]
    return Response(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})


def sobject_info(app: Any, req: Request, version: str, obj: str) -> Response:
    d = _obj(app, obj)
    info = {k: d[k] for k in ("name", "label", "labelPlural", "keyPrefix", "custom", "urls")}
    return Response(200, {"objectDescribe": info, "recentItems": []})


def describe(app: Any, req: Request, version: str, obj: str) -> Response:
    return Response(200, _obj(app, obj))


# ---- query ------------------------------------------------------------------------------------
def _page(app: Any, version: str, endpoint: str, locator: str, rows: list[dict[str, Any]],
          start: int, size: int) -> Response:
    chunk = rows[start:start + size]
    done = start + size >= len(rows)
    body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": chunk}
    if not done:
        body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{start + size}"
        app.cursors[locator] = rows
    else:
        app.cursors.pop(locator, None)
    return Response(200, body, records=len(chunk))


def _candidates(app: Any, parsed: soql.Query) -> list[dict[str, Any]]:
    """The records that may match: those the equality index gives for the query's hint (in
    table order), or the whole table when the WHERE clause has no usable equality."""
    table = app.store.sf.get(parsed.sobject, {})
    if parsed.hint is None:
        return list(table.values())
    ids: dict[str, None] = {}
    for fname, ftype, keys in parsed.hint:
        index = app.store.sf_index(parsed.sobject, fname, soql.key_of(ftype))
        for key in keys:
            ids.update(index.get(key) or {})
    position = app.store.sf_pos.get(parsed.sobject, {})
    return [table[rid] for rid in sorted(ids, key=lambda rid: position.get(rid, 0))]


def query(app: Any, req: Request, version: str) -> Response:
    endpoint = "queryAll" if req.path.rstrip("/").endswith("queryAll") else "query"
    text = req.arg("q")
    if not text:
        return sf_error(400, "MALFORMED_QUERY", "Query string parameter 'q' is required")
    try:
        parsed = soql.parse(text, lambda n: _describe(app, n), app.store.clock().date())
    except soql.SoqlError as exc:
        return sf_error(400, exc.code, exc.message)
    records = [r for r in _candidates(app, parsed)
               if endpoint == "queryAll" or not r.get("IsDeleted")]
    rows = soql.run(parsed, records)
    if parsed.count:
        return Response(200, {"totalSize": len(rows), "done": True, "records": []})
    projected = [_project(version, parsed.sobject, r, parsed.fields) for r in rows]
    size = app.page_size
    for option in req.headers.get("sforce-query-options", "").split(","):
        key, _, value = option.partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            size = max(1, min(int(value), DEFAULT_PAGE))
    locator = "01g" + secrets.token_hex(8)[:15]
    return _page(app, version, endpoint, locator, projected, 0, size)


def query_more(app: Any, req: Request, version: str, locator: str, start: str) -> Response:
    endpoint = "queryAll" if "/queryAll/" in req.path else "query"
    rows = app.cursors.get(locator)
    if rows is None:
        return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    first = int(start)
    size = app.page_size
    for option in req.headers.get("sforce-query-options", "").split(","):
        key, _, value = option.partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            size = max(1, min(int(value), DEFAULT_PAGE))
    return _page(app, version, endpoint, locator, rows, first, size)


# ---- single records ---------------------------------------------------------------------------
def get_record(app: Any, req: Request, version: str, obj: str, rid: str) -> Response:
    d = _obj(app, obj)
    rec = app.store.sf_get(d["name"], rid)
    if rec is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    names = [f["name"] for f in d["fields"]]
    wanted = req.args("fields")
    if wanted:
        canon = {n.lower(): n for n in names}
        bad = [w for w in wanted if w.lower() not in canon]
        if bad:
            return sf_error(400, "INVALID_FIELD", f"No such column '{bad[0]}' on entity "
                            f"'{d['name']}'.")
        names = ["Id"] + [canon[w.lower()] for w in wanted if canon[w.lower()] != "Id"]
    return Response(200, _project(version, d["name"], rec, names), records=1)


def get_by_external(app: Any, req: Request, version: str, obj: str, field: str,
                    value: str) -> Response:
    d = _obj(app, obj)
    writer = SfWriter(app.store, app.describes)
    meta = writer.fields_of(d["name"]).get(field.lower())
    if meta is None or not (meta["externalId"] or meta["idLookup"]):
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    rec = writer.find_by(d["name"], meta["name"], value) if meta["unique"] else next(
        (r for r in app.store.sf[d["name"]].values() if not r.get("IsDeleted")
         and str(r.get(meta["name"]) or "").lower() == value.lower()), None)
    if rec is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    return Response(200, _project(version, d["name"], rec, [f["name"] for f in d["fields"]]),
                    records=1)


def _record_body(app: Any, req: Request, locked: str) -> dict[str, Any]:
    """The JSON object a record write sends; a body that is not one, or a row lock injected by a
    fault, aborts with Salesforce's error (`locked` ends its message)."""
    data = _body(req)
    if not isinstance(data, dict):
        raise Abort(sf_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object"))
    if app.reject("salesforce", req):
        raise Abort(sf_error(400, "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this {locked}"))
    return data


def create(app: Any, req: Request, version: str, obj: str) -> Response:
    d = _obj(app, obj)
    data = _record_body(app, req, "record")
    writer = SfWriter(app.store, app.describes)
    rec, errors = writer.create(d["name"], data)
    if errors:
        return _first_error(errors)
    writer.commit()
    return Response(201, {"id": rec["Id"], "success": True, "errors": []}, records=1)


def update(app: Any, req: Request, version: str, obj: str, rid: str) -> Response:
    d = _obj(app, obj)
    data = _record_body(app, req, f"record or 1 records: {rid}")
    writer = SfWriter(app.store, app.describes)
    if app.store.sf_get(d["name"], rid, deleted=True) is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    _rec, errors = writer.update(d["name"], rid, data)
    if errors:
        return _first_error(errors)
    writer.commit()
    return Response(204, records=1)


def upsert(app: Any, req: Request, version: str, obj: str, field: str, value: str) -> Response:
    d = _obj(app, obj)
    data = _record_body(app, req, "record")
    writer = SfWriter(app.store, app.describes)
    rec, created, errors = writer.upsert(d["name"], field, value, data)
    if errors:
        return _first_error(errors)
    writer.commit()
    return Response(201 if created else 200,
                    {"id": rec["Id"], "success": True, "errors": [], "created": created},
                    records=1)


def delete(app: Any, req: Request, version: str, obj: str, rid: str) -> Response:
    d = _obj(app, obj)
    writer = SfWriter(app.store, app.describes)
    errors = writer.delete(d["name"], rid)
    if errors:
        code = errors[0]["statusCode"]
        if code == "ENTITY_IS_DELETED":
            return sf_error(404, code, errors[0]["message"])
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    writer.commit()
    return Response(204, records=1)


def register(router: Router) -> None:
    def r(method: str, pattern: str, handler: Any, name: str) -> None:
        router.add(method, pattern, guarded(handler), name)
    r("GET", r"/services/data/?", versions, "sf.versions")
    r("GET", r"/services/oauth2/userinfo/?", userinfo, "sf.userinfo")
    r("GET", API + r"/?", resources, "sf.resources")
    r("GET", API + r"/limits/?", limits, "sf.limits")
    r("GET", API + r"/sobjects/?", describe_global, "sf.describe_global")
    r("GET", API + r"/(?:query|queryAll)/?", query, "sf.query")
    r("GET", API + r"/(?:query|queryAll)/(?P<locator>01g\w+)-(?P<start>\d+)", query_more,
      "sf.query_more")
    r("GET", API + r"/sobjects/(?P<obj>\w+)/?", sobject_info, "sf.sobject")
    r("GET", API + r"/sobjects/(?P<obj>\w+)/describe/?", describe, "sf.describe")
    r("POST", API + r"/sobjects/(?P<obj>\w+)/?", create, "sf.create")
    r("GET", API + r"/sobjects/(?P<obj>\w+)/(?P<rid>\w+)", get_record, "sf.get")
    r("PATCH", API + r"/sobjects/(?P<obj>\w+)/(?P<rid>\w+)", update, "sf.update")
    r("DELETE", API + r"/sobjects/(?P<obj>\w+)/(?P<rid>\w+)", delete, "sf.delete")
    r("GET", API + r"/sobjects/(?P<obj>\w+)/(?P<field>\w+)/(?P<value>[^/]+)", get_by_external,
      "sf.get_by_external")
    r("PATCH", API + r"/sobjects/(?P<obj>\w+)/(?P<field>\w+)/(?P<value>[^/]+)", upsert,
      "sf.upsert")
    from sandbox import sf_bulk, sf_composite
    for method, pattern, handler, name in sf_composite.ROUTES + sf_bulk.ROUTES:
        r(method, API + pattern, handler, name)

