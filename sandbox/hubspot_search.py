"""HubSpot search and associations routes of the sandbox: `POST /crm/v3/objects/<obj>/search`
(filterGroups = OR of ANDs, the usual operators, sorts, `query`, paging, the 10,000-result cap) and
the v4 associations API (default association create / delete / list, batch associate and read).
Text compares case-insensitively; `EQ` / `IN` on a unique property (a contact's email) read the
store's unique index instead of scanning every record.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from sandbox.http import Abort, Request, Response
from sandbox.hubspot import (body_of, hs_error, object_name, sort_key, view)
from sandbox.store import HS_UNIQUE, parse_dt

SEARCH_CAP = 10_000
MAX_LIMIT = 200
_OPS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
        "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
# HUBSPOT_DEFINED default association type ids, from -> to.
TYPE_IDS = {("contacts", "emails"): 197, ("emails", "contacts"): 198,
            ("contacts", "tasks"): 203, ("tasks", "contacts"): 204,
            ("emails", "tasks"): 0, ("tasks", "emails"): 0}
_TARGET_OF_TYPE = {197: "emails", 198: "contacts", 203: "tasks", 204: "contacts"}
_QUERY_PROPS = ("email", "firstname", "lastname", "phone", "company", "hs_email_subject",
                "hs_task_subject")


def _comparer(app: Any, obj: str, prop: str) -> Callable[[Any], Any]:
    """How values of `prop` compare: numbers as floats, dates as timestamps, text lower-cased
    (so `EQ` / `IN` on email are case-insensitive, as in HubSpot)."""
    ptype = app.hs_props[obj].get(prop, {"type": "string"})["type"]
    if ptype == "number" or prop == "hs_object_id":
        def number(value: Any) -> Any:
            try:
                return None if value is None else float(str(value))
            except ValueError:
                return None
        return number
    if ptype in ("datetime", "date"):
        def moment(value: Any) -> Any:
            if value is None:
                return None
            text = str(value)
            parsed = parse_dt(text) if ("T" in text or text.isdigit()) else \
                parse_dt(text + "T00:00Z")
            return parsed.timestamp() if parsed else None
        return moment
    return lambda value: None if value is None else str(value).lower()


def _comparable(app: Any, obj: str, prop: str, value: Any) -> Any:
    return _comparer(app, obj, prop)(value)


def _filter(app: Any, obj: str, flt: dict[str, Any]):  # -> Callable[[dict], bool]
    prop, op = flt.get("propertyName"), str(flt.get("operator", "EQ")).upper()
    if not prop or op not in _OPS:
        raise Abort(hs_error(400, "VALIDATION_ERROR", f"Invalid filter: operator {op} on "
                             f"property {prop}"))
    comparable = _comparer(app, obj, prop)
    value = comparable(flt.get("value"))
    high = comparable(flt.get("highValue"))
    values = {comparable(v) for v in flt.get("values") or []}

    def test(rec: dict[str, Any]) -> bool:
        raw = rec["id"] if prop == "hs_object_id" else rec["properties"].get(prop)
        have = comparable(raw)
        if op == "HAS_PROPERTY":
            return have is not None
        if op == "NOT_HAS_PROPERTY":
            return have is None
        if op == "NEQ":
            return have != value
        if op == "NOT_IN":
            return have not in values
        if have is None:
            return False
        if op == "EQ":
            return have == value
        if op == "IN":
            return have in values
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = re.escape(str(flt.get("value", "")).lower()).replace(r"\*", ".*")
            hit = any(re.fullmatch(pattern, tok) for tok in re.split(r"[\s@.,;]+", str(have)))
            hit = hit or bool(re.fullmatch(pattern, str(have)))
            return hit if op == "CONTAINS_TOKEN" else not hit
        try:
            if op == "BETWEEN":
                return value <= have <= high
            return {"LT": have < value, "LTE": have <= value, "GT": have > value,
                    "GTE": have >= value}[op]
        except TypeError:
            return False
    return test


def _candidates(app: Any, obj: str, groups: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """The records that may match: when every filter group has an `EQ` / `IN` on a unique
    property (a contact's email), those the unique index gives; otherwise every record."""
    table = app.store.hs[obj]
    keyed: list[tuple[str, list[Any]]] = []
    for group in groups:
        hit = next(((f["propertyName"], [f.get("value")] if str(f.get("operator", "EQ")).upper()
                     == "EQ" else list(f.get("values") or []))
                    for f in group.get("filters") or []
                    if f.get("propertyName") in HS_UNIQUE.get(obj, ())
                    and (obj, f.get("propertyName")) not in app.store.hs_shared
                    and str(f.get("operator", "EQ")).upper() in ("EQ", "IN")), None)
        if hit is None:
            return table.values()
        keyed.append(hit)
    if not keyed:
        return table.values()
    found: dict[str, dict[str, Any]] = {}
    for prop, values in keyed:
        for value in values:
            rec = app.store.hs_lookup(obj, prop, value) if value is not None else None
            if rec is not None:
                found[rec["id"]] = rec
    return found.values()


def search(app: Any, req: Request, obj: str) -> Response:
    obj = object_name(app, obj)
    body = body_of(req)
    groups = body.get("filterGroups") or []
    if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups) or sum(
            len(g.get("filters") or []) for g in groups) > 18:
        return hs_error(400, "VALIDATION_ERROR", "Too many filters: at most 5 filterGroups, 6 "
                        "filters per group and 18 filters in total")
    tests = [[_filter(app, obj, f) for f in g.get("filters") or []] for g in groups]
    limit = int(body.get("limit") or 10)
    after = int(body.get("after") or 0)
    if limit > MAX_LIMIT:
        return hs_error(400, "VALIDATION_ERROR", f"limit must be at most {MAX_LIMIT}")
    if after + limit > SEARCH_CAP:
        return hs_error(400, "VALIDATION_ERROR", f"The search API cannot page beyond {SEARCH_CAP} "
                        "results; narrow the filters (for example on hs_object_id or "
                        "lastmodifieddate).")
    rows = [r for r in _candidates(app, obj, groups) if not r.get("archived")
            and (not tests or any(all(t(r) for t in group) for group in tests))]
    query = str(body.get("query") or "").strip().lower()
    if query:
        rows = [r for r in rows if any(str(r["properties"].get(p) or "").lower().startswith(query)
                                       or query in str(r["properties"].get(p) or "").lower()
                                       .split() for p in _QUERY_PROPS)]
    rows.sort(key=lambda r: sort_key(r["id"]))
    for sort in reversed(body.get("sorts") or []):
        if isinstance(sort, str):
            prop, desc = sort.lstrip("-"), sort.startswith("-")
        else:
            prop = sort.get("propertyName")
            desc = str(sort.get("direction", "ASCENDING")).upper().startswith("DESC")
        present = [r for r in rows if _comparable(app, obj, prop, r["properties"].get(prop))
                   is not None]
        kept = {id(r) for r in present}
        absent = [r for r in rows if id(r) not in kept]
        present.sort(key=lambda r: _comparable(app, obj, prop, r["properties"].get(prop)),
                     reverse=desc)
        rows = present + absent
    total = len(rows)
    page = rows[after:after + limit]
    out: dict[str, Any] = {"total": total,
                           "results": [view(app, obj, r, body.get("properties") or []) for r in page]}
    if after + limit < min(total, SEARCH_CAP):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return Response(200, out, records=len(page))


# ---- associations -----------------------------------------------------------------------------
def _link(app: Any, a_obj: str, a_id: str, b_obj: str, b_id: str, on: bool) -> None:
    for (x_obj, x_id, y_obj, y_id) in ((a_obj, a_id, b_obj, b_id), (b_obj, b_id, a_obj, a_id)):
        rec = app.store.hs[x_obj][x_id]
        ids = list(rec.get("associations", {}).get(y_obj, []))
        if on and y_id not in ids:
            ids.append(y_id)
        if not on and y_id in ids:
            ids.remove(y_id)
        assoc = {**rec.get("associations", {}), y_obj: ids}
        app.store.hs_put(x_obj, [{**rec, "associations": {k: v for k, v in assoc.items() if v}}])


def _live(app: Any, obj: str, rid: str) -> dict[str, Any]:
    rec = app.store.hs[obj].get(str(rid))
    if rec is None or rec.get("archived"):
        raise Abort(hs_error(404, "OBJECT_NOT_FOUND", f"No {obj[:-1]} with id {rid}",
                             context={"id": [str(rid)]}))
    return rec


def apply_associations(app: Any, obj: str, rec: dict[str, Any], specs: Any) -> None:
    """Associations given inline on create (`[{"to": {"id"}, "types": [...]}]`), on `rec`."""
    for spec in specs or []:
        to_id = str((spec.get("to") or {}).get("id", ""))
        type_ids = [t.get("associationTypeId") for t in spec.get("types") or []]
        to_obj = next((_TARGET_OF_TYPE[t] for t in type_ids if t in _TARGET_OF_TYPE), None)
        if to_obj is None:
            raise Abort(hs_error(400, "VALIDATION_ERROR", f"Unknown association types "
                                 f"{type_ids} from {obj}"))
        other = _live(app, to_obj, to_id)
        rec.setdefault("associations", {}).setdefault(to_obj, []).append(to_id)
        back = dict(other.get("associations", {}))
        back[obj] = list(back.get(obj, [])) + [rec["id"]]
        app.store.hs_put(to_obj, [{**other, "associations": back}])


def _spec(from_obj: str, to_obj: str) -> dict[str, Any]:
    return {"associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": TYPE_IDS.get((from_obj, to_obj), 0)}


def _batch_default(app: Any, pairs: list[tuple[str, str]], from_obj: str, to_obj: str
                   ) -> Response:
    started = app.store.now_hs()
    results = []
    for a, b in pairs:
        _live(app, from_obj, a)
        _live(app, to_obj, b)
        _link(app, from_obj, a, to_obj, b, True)
        results.append({"from": {"id": a}, "to": {"id": b}, "associationSpec": _spec(from_obj,
                                                                                       to_obj)})
    return Response(200, {"status": "COMPLETE", "results": results, "startedAt": started,
                          "completedAt": app.store.now_hs()}, records=len(results))


def create_default(app: Any, req: Request, from_obj: str, from_id: str, to_obj: str, to_id: str
                   ) -> Response:
    return _batch_default(app, [(from_id, to_id)], object_name(app, from_obj),
                          object_name(app, to_obj))


def batch_associate_default(app: Any, req: Request, from_obj: str, to_obj: str) -> Response:
    inputs = body_of(req).get("inputs") or []
    pairs = [(str(i["from"]["id"]), str(i["to"]["id"])) for i in inputs]
    return _batch_default(app, pairs, object_name(app, from_obj), object_name(app, to_obj))


def _targets(app: Any, from_obj: str, rec: dict[str, Any], to_obj: str) -> list[dict[str, Any]]:
    return [{"toObjectId": int(i) if i.isdigit() else i,
             "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                   "typeId": TYPE_IDS.get((from_obj, to_obj), 0), "label": None}]}
            for i in rec.get("associations", {}).get(to_obj, [])]


def list_associations(app: Any, req: Request, from_obj: str, from_id: str, to_obj: str
                      ) -> Response:
    from_obj, to_obj = object_name(app, from_obj), object_name(app, to_obj)
    results = _targets(app, from_obj, _live(app, from_obj, from_id), to_obj)
    return Response(200, {"results": results}, records=len(results))


def delete_association(app: Any, req: Request, from_obj: str, from_id: str, to_obj: str,
                       to_id: str) -> Response:
    from_obj, to_obj = object_name(app, from_obj), object_name(app, to_obj)
    _live(app, from_obj, from_id)
    _live(app, to_obj, to_id)
    _link(app, from_obj, from_id, to_obj, to_id, False)
    return Response(204, records=1)


def batch_read_associations(app: Any, req: Request, from_obj: str, to_obj: str) -> Response:
    from_obj, to_obj = object_name(app, from_obj), object_name(app, to_obj)
    started = app.store.now_hs()
    results = []
    for item in body_of(req).get("inputs") or []:
        rec = app.store.hs[from_obj].get(str(item.get("id")))
        if rec is not None and not rec.get("archived"):
            results.append({"from": {"id": rec["id"]}, "to": _targets(app, from_obj, rec, to_obj)})
    return Response(200, {"status": "COMPLETE", "results": results, "startedAt": started,
                          "completedAt": app.store.now_hs()}, records=len(results))


V4 = r"/crm/v4/objects/(?P<from_obj>[\w-]+)/(?P<from_id>[^/]+)/associations"
ROUTES = [
    ("POST", r"/crm/v3/objects/(?P<obj>[\w-]+)/search", search, "hs.search"),
    ("PUT", V4 + r"/default/(?P<to_obj>[\w-]+)/(?P<to_id>[^/]+)", create_default,
     "hs.assoc.create_default"),
    ("GET", V4 + r"/(?P<to_obj>[\w-]+)/?", list_associations, "hs.assoc.list"),
    ("DELETE", V4 + r"/(?P<to_obj>[\w-]+)/(?P<to_id>[^/]+)", delete_association,
     "hs.assoc.delete"),
    ("POST", r"/crm/v4/associations/(?P<from_obj>[\w-]+)/(?P<to_obj>[\w-]+)/batch/associate/"
     r"default", batch_associate_default, "hs.assoc.batch_default"),
    ("POST", r"/crm/v4/associations/(?P<from_obj>[\w-]+)/(?P<to_obj>[\w-]+)/batch/read",
     batch_read_associations, "hs.assoc.batch_read"),
]
