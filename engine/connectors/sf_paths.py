"""The cheapest path for each Salesforce batch (D-RUN-3, D-RUN-5): what a read, a write or an
activity costs in API calls by each path, which path wins, and the Composite path itself.

Paths and their cost in calls (Salesforce counts a whole Composite request as ONE call):

- Composite: up to 25 subrequests, of which up to 5 sObject Collections (200 records each) or
  queries, in one request: writes cost ⌈records / 1,000⌉ calls, reads ⌈queries / 5⌉ (a query
  is an `IN` list of up to 200 emails or ids).
- Bulk API 2.0 (`sf_bulk`): an ingest job costs create + upload + close + status checks, plus
  the results it must read (successful rows for creates, failed rows when some failed,
  unprocessed rows when the job stopped): about 4 to 7 calls whatever its size (up to 10,000
  records per Salesforce batch, 100 MB per job); a query job costs create + status + one call
  per results page. Bulk is considered from `BULK_FROM` records (Salesforce's own guidance) and
  taken only when it costs fewer calls than Composite.
- Reads of a batch touching many records: one Bulk query job over the whole object, only the
  fields needed, `SCAN_PAGE` rows a results page, its rows kept when they hold a wanted email or
  id: 2 + ⌈rows / 500,000⌉ calls, however many records the batch touches (the object's size comes
  from the connection's last scan or one `COUNT()` Composite request).

Per-record results are mapped exactly as the collection path always did (`map_results`): a
record refused for a busy row is tried again, an update refused for named fields is sent again
without them, any other refusal is skipped with the CRM's own code and message; nothing is lost
(what was not sent when the sync stops is pending) and nothing is sent twice (creates whose answer
was lost are read back before a retry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from urllib.parse import quote_plus

from simple_salesforce import format_soql

from engine.connectors.base import RecordWrite, SyncStopped, Written, norm_email
from engine.connectors.retry import Rejected, Stop, Transient

if TYPE_CHECKING:
    from engine.connectors.salesforce import SalesforceConnector

COLLECTION = 200        # records in one sObject Collections subrequest
HEAVY = 5               # collections or queries in one Composite request
SUBREQUESTS = 25        # subrequests in one Composite request
PER_CALL = COLLECTION * HEAVY
BULK_FROM = 2_000       # Salesforce: Bulk API 2.0 for about 2,000 records and more
BULK_WRITE_CALLS = 5    # create, upload, close, one status check, one results read (typical)
BULK_QUERY_CALLS = 3    # create, one status check, one results page (typical)
SCAN_PAGE = 500_000     # rows per results set of a whole-object Bulk query (maxRecords; a few short columns)
SCAN_FROM_CALLS = 3     # consider a whole-object scan once IN queries would take more calls
# Per-record errors worth one more try (the row was busy), not a rejection of the data.
RECORD_TRANSIENT = frozenset({"UNABLE_TO_LOCK_ROW"})


# ---- costs and the choice ------------------------------------------------------------------------
def composite_write_calls(records: int) -> int:
    return math.ceil(records / PER_CALL)


def bulk_write_calls(records: int, groups: int = 1) -> int:
    return BULK_WRITE_CALLS * groups if records else 0


def use_bulk_write(records: int) -> bool:
    """Whether one (object, operation) group of `records` goes through a Bulk ingest job."""
    return records >= BULK_FROM and bulk_write_calls(records) < composite_write_calls(records)


@dataclass
class Unit:
    """One send: a Composite request of up to 5 collection chunks, or one Bulk job."""

    path: str                                   # "composite" | "bulk"
    chunks: list[list[Any]]                     # composite: up to 5 chunks; bulk: one list
    obj: str | None = None

    def items(self) -> list[Any]:
        return [w for chunk in self.chunks for w in chunk]


def plan_units(items: Sequence[Any], *, allow_bulk: bool = True) -> list[Unit]:
    """Group one operation's items into the cheapest sends: each object's group of `BULK_FROM`
    or more goes to a Bulk job when that costs fewer calls, the rest into Composite requests of
    5 collections of 200 (one object per collection, objects mixed across a request)."""
    by_obj: dict[str, list[Any]] = {}
    for item in items:
        by_obj.setdefault(item.object, []).append(item)
    units: list[Unit] = []
    chunks: list[list[Any]] = []
    for obj, group in by_obj.items():
        if allow_bulk and use_bulk_write(len(group)):
            units.append(Unit("bulk", [group], obj))
            continue
        chunks.extend(group[i:i + COLLECTION] for i in range(0, len(group), COLLECTION))
    units.extend(Unit("composite", chunks[i:i + HEAVY]) for i in range(0, len(chunks), HEAVY))
    return units


# ---- composite on the wire --------------------------------------------------------------------
def base_url(conn: "SalesforceConnector") -> str:
    return f"/services/data/v{conn.sf.sf_version}"


def composite(conn: "SalesforceConnector", subrequests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST one Composite request (allOrNone false): its `compositeResponse` list, in order."""
    answer = conn.sf.restful("composite", method="POST",
                             json={"allOrNone": False, "compositeRequest": subrequests},
                             **conn._timeout())
    return list((answer or {}).get("compositeResponse") or [])


def first_error(body: Any) -> tuple[str, str]:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "ERROR")), str(body[0].get("message", ""))
    if isinstance(body, dict):
        return str(body.get("errorCode", "ERROR")), str(body.get("message", ""))
    return "ERROR", str(body)[:500]


# ---- per-record results: one mapping for every path -------------------------------------------
def map_results(conn: "SalesforceConnector", pairs: Iterable[tuple[RecordWrite, dict[str, Any]]],
                result: Any, retry_later: list[RecordWrite], salvage: list[RecordWrite]) -> None:
    """Each (write, Salesforce SaveResult) into written, retried (busy row), salvaged (an update
    refused for named fields goes again without them) or skipped with the CRM's reason."""
    for write, res in pairs:
        if res.get("success"):
            result.written.append(Written(conn.crm, write.object, res.get("id") or write.record or "",
                                          write.email, write.op, write.fields, write.before, write.sources))
            continue
        errors = res.get("errors") or [{"statusCode": "UNKNOWN", "message": "no result"}]
        first = errors[0]
        if first.get("statusCode") in RECORD_TRANSIENT:
            retry_later.append(write)
            continue
        refused = {f for e in errors for f in e.get("fields") or [] if f in write.fields}
        rest = write.without(refused) if refused and all(e.get("fields") for e in errors) else None
        if rest is not None:  # the CRM named the fields it refuses: the others are sent again
            for e in errors:
                for f in e.get("fields") or []:
                    result.skipped.append(conn._skip(write, e.get("statusCode", "ERROR"), e.get("message", ""), f))
            salvage.append(rest)
            continue
        fields = first.get("fields") or []
        result.skipped.append(conn._skip(write, first.get("statusCode", "ERROR"), first.get("message", ""),
                                         fields[0] if fields else None))


def _send_composite(conn: "SalesforceConnector", unit: Unit, op: str, result: Any,
                    retry_later: list[RecordWrite], salvage: list[RecordWrite]) -> None:
    """Up to 5 chunks of 200 writes in ONE Composite request."""
    done: list[dict[int, Written]] = [{} for _ in unit.chunks]  # creates found by read-before-retry

    def on_retry(exc: Transient) -> None:
        if op == "create" and exc.unknown_outcome:
            conn.policy.sleep(conn.policy.settle_time)  # let a request still in flight land first
            for chunk, found in zip(unit.chunks, done):
                conn._reconcile_creates(chunk, found)

    def send() -> list[tuple[int, list[int], dict[str, Any]]]:
        subs, index = [], []
        for k, chunk in enumerate(unit.chunks):
            todo = [i for i in range(len(chunk)) if i not in done[k]]
            if not todo:
                continue
            subs.append({"method": "POST" if op == "create" else "PATCH",
                         "url": f"{base_url(conn)}/composite/sobjects", "referenceId": f"chunk{k}",
                         "body": {"allOrNone": False, "records": [conn._payload(chunk[i]) for i in todo]}})
            index.append((k, todo))
        if not subs:
            return []
        answers = composite(conn, subs)
        return [(k, todo, sub) for (k, todo), sub in zip(index, answers)]

    try:
        answers = conn.caller.call("write", send, on_retry=on_retry)
    except Rejected as exc:
        result.skipped.extend(conn._skip(w, exc.code, exc.message) for w in unit.items())
        return
    for found in done:
        result.written.extend(found.values())
    for k, todo, sub in answers:
        chunk, body = unit.chunks[k], sub.get("body")
        if int(sub.get("httpStatusCode") or 200) >= 400 or not isinstance(body, list):
            code, message = first_error(body)
            result.skipped.extend(conn._skip(chunk[i], code, message) for i in todo)
            continue
        map_results(conn, [(chunk[i], res) for i, res in zip(todo, body)], result, retry_later, salvage)


def apply_writes(conn: "SalesforceConnector", writes: Sequence[RecordWrite], result: Any) -> Any:
    """Updates, then creates, each by its cheapest path (`plan_units`); busy rows get up to
    `record_retries` more passes, records a Bulk job left unprocessed another pass, then stay
    pending. On a stop, everything not confirmed is pending."""
    from engine.connectors import sf_bulk

    for op in ("update", "create"):
        todo = [w for w in writes if w.op == op]
        passes = 0
        while todo:
            retry_later: list[RecordWrite] = []
            salvage: list[RecordWrite] = []
            unprocessed: list[RecordWrite] = []
            units = plan_units(todo)
            for n, unit in enumerate(units):
                try:
                    if unit.path == "bulk":
                        sf_bulk.send_writes(conn, unit.obj or "", unit.items(), op, result,
                                            retry_later, salvage, unprocessed)
                    else:
                        _send_composite(conn, unit, op, result, retry_later, salvage)
                except Stop as stop:
                    result.stopped = stop.stopped
                    for later in units[n:] if stop.left is None else units[n + 1:]:
                        result.pending.extend(later.items())
                    result.pending.extend(stop.left or [])  # a Bulk job aborted part-way (sf_bulk)
                    result.pending.extend(retry_later + salvage + unprocessed)
                    if op == "update":
                        result.pending.extend(w for w in writes if w.op == "create")
                    return result
            passes += 1
            if passes > conn.policy.record_retries:
                result.skipped.extend(conn._skip(w, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access "
                                                 "to this record") for w in retry_later)
                retry_later = []
                if unprocessed:  # parked, not lost: the next run sends them again
                    result.pending.extend(unprocessed)
                    result.stopped = result.stopped or SyncStopped(
                        conn.crm, "bulk_job_failed", f"{len(unprocessed)} records a Bulk API job left "
                        "unprocessed", "they stay pending and are sent by the next run")
                    unprocessed = []
            todo = retry_later + unprocessed + salvage
    return result


# ---- reads -----------------------------------------------------------------------------------
def read_records(conn: "SalesforceConnector", emails: Iterable[str] = (),
                 ids: Mapping[str, Iterable[str]] | None = None, objects: Iterable[str] | None = None,
                 fields: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Lead / Contact records holding these emails or ids, each object by its cheapest read:
    `IN` queries of 200 values five to a Composite request (one call); Bulk query jobs of long
    `IN` lists; or, for a batch touching many records, one Bulk query job over the whole object
    (only the fields needed) whose rows are kept when they hold a wanted email or id — a handful
    of calls whatever the batch size. Raises `Stop` / `Rejected` as every read does."""
    from engine.connectors import sf_bulk

    wanted = sorted({e for e in (norm_email(x) for x in emails) if e})
    objs = list(objects or conn.person_objects)
    plans: dict[str, dict[str, Any]] = {}
    for obj in objs:
        names = conn._fields(obj, (fields or {}).get(obj))
        select = f"SELECT {', '.join(names)} FROM {obj}"
        id_list = sorted({i for i in (ids or {}).get(obj, ()) if i})
        plans[obj] = {"select": select, "ids": id_list,
                      "in": list(conn._in_chunks(select + " WHERE Email", wanted))
                      + list(conn._in_chunks(select + " WHERE Id", id_list)),
                      "jobs": sf_bulk.in_queries(select + " WHERE Email", wanted)
                      + sf_bulk.in_queries(select + " WHERE Id", id_list)}
    path = {obj: "composite" for obj in objs}
    if math.ceil(sum(len(p["in"]) for p in plans.values()) / HEAVY) > SCAN_FROM_CALLS:
        sizes = table_rows(conn, objs)
        for obj, p in plans.items():
            costs = {"composite": math.ceil(len(p["in"]) / HEAVY), "scan": scan_calls(sizes[obj]),
                     "bulk": BULK_QUERY_CALLS * len(p["jobs"]) if len(wanted) >= BULK_FROM else math.inf}
            path[obj] = min(costs, key=lambda k: (costs[k], k != "composite"))
    out: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in objs}
    wanted_set = set(wanted)
    for obj, p in plans.items():
        if path[obj] == "scan":
            id_set, seen = set(p["ids"]), 0
            for row in sf_bulk.query(conn, obj, p["select"], page=SCAN_PAGE):
                seen += 1
                if row["Id"] in id_set or norm_email(row.get("Email")) in wanted_set:
                    out[obj][row["Id"]] = row
            _rows_cache(conn)[obj] = seen
        elif path[obj] == "bulk":
            for soql in p["jobs"]:
                for row in sf_bulk.query(conn, obj, soql):
                    out[obj][row["Id"]] = row
    queries = [(obj, q) for obj, p in plans.items() if path[obj] == "composite" for q in p["in"]]
    for start in range(0, len(queries), HEAVY):
        group = queries[start:start + HEAVY]
        for (obj, _soql), rows in zip(group, composite_queries(conn, [q for _o, q in group])):
            for row in rows:
                out[obj][row["Id"]] = row
    return {obj: list(rows.values()) for obj, rows in out.items()}


def scan_calls(rows: int) -> int:
    """Calls of one Bulk query job over a whole object of `rows` records."""
    return BULK_QUERY_CALLS - 1 + max(1, math.ceil(rows / SCAN_PAGE))


def _rows_cache(conn: "SalesforceConnector") -> dict[str, int]:
    cache = getattr(conn, "_table_rows", None)
    if cache is None:
        cache = {}
        setattr(conn, "_table_rows", cache)
    return cache


def table_rows(conn: "SalesforceConnector", objs: Sequence[str]) -> dict[str, int]:
    """Records per object: from this connection's last scan, else `COUNT()` queries in one
    Composite request (one call)."""
    cache = _rows_cache(conn)
    missing = [obj for obj in objs if obj not in cache]
    if missing:
        answers = conn.caller.call("read", lambda: composite(conn, [
            {"method": "GET", "url": f"{base_url(conn)}/query?q={quote_plus('SELECT COUNT() FROM ' + obj)}",
             "referenceId": f"count{i}"} for i, obj in enumerate(missing)]))
        for obj, sub in zip(missing, answers):
            body = sub.get("body")
            cache[obj] = int(body.get("totalSize") or 0) if isinstance(body, dict) else 0
    return {obj: cache[obj] for obj in objs}


def composite_queries(conn: "SalesforceConnector", soqls: Sequence[str], kind: str = "read"
                      ) -> list[list[dict[str, Any]]]:
    """Up to 5 SOQL queries in one Composite request: each query's rows (a query with more
    than one page follows its `nextRecordsUrl`, one call a page)."""
    def send() -> list[dict[str, Any]]:
        return composite(conn, [{"method": "GET", "url": f"{base_url(conn)}/query?q={quote_plus(q)}",
                                 "referenceId": f"q{i}"} for i, q in enumerate(soqls)])

    answers = conn.caller.call(kind, send)
    out: list[list[dict[str, Any]]] = []
    for sub in answers:
        body = sub.get("body")
        status = int(sub.get("httpStatusCode") or 200)
        if status >= 400 or not isinstance(body, dict):
            code, message = first_error(body)
            raise Rejected(code, message, status)
        out.append(_rest_of_pages(conn, kind, body, list(body.get("records") or [])))
    return out


def _rest_of_pages(conn: "SalesforceConnector", kind: str, page: dict, rows: list[dict[str, Any]]
                   ) -> list[dict[str, Any]]:
    """`rows` (a query's first page) with the query's remaining pages, one REST call each, and
    Salesforce's `attributes` dropped from every row."""
    while not page.get("done", True) and page.get("nextRecordsUrl"):
        url = page["nextRecordsUrl"]
        page = conn.caller.call(kind, lambda url=url: conn.sf.query_more(url, identifier_is_url=True,
                                                                         **conn._timeout()))
        rows.extend(page.get("records") or [])
    for row in rows:
        row.pop("attributes", None)
    return rows


ME = "_me"  # the pull cursor's key for the integration user's id


def pull_soql(conn: "SalesforceConnector", obj: str, since: str | None, me: str | None) -> str:
    """The pull's query of one object: every field; after the first pull only the records changed
    since the cursor by someone other than the integration user `me`."""
    from engine.connectors.salesforce import soql_datetime

    soql = f"SELECT {', '.join(conn._fields(obj, None))} FROM {obj}"
    if since:
        soql += f" WHERE SystemModstamp > {soql_datetime(since)}"
        if me:
            soql += " AND LastModifiedById != " + format_soql("{}", me)
    return soql + " ORDER BY SystemModstamp ASC"


def pull(conn: "SalesforceConnector", objs: Sequence[str], cursor: Mapping[str, str]
         ) -> dict[str, list[dict[str, Any]]]:
    """The pull's rows per object: each object's first page, up to five to a Composite request
    that also re-reads the describes already held (so new custom fields are seen, D-SY-2) — one
    call in all when few records changed; then each query's remaining pages (`rest_of_query`)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(objs), HEAVY):
        group = list(objs[start:start + HEAVY])
        refresh = [obj for obj in group if obj in conn._describes]
        soqls = [pull_soql(conn, obj, cursor.get(obj), cursor.get(ME)) for obj in group]  # describes what it lacks
        subs = [{"method": "GET", "url": f"{base_url(conn)}/sobjects/{obj}/describe", "referenceId": f"d{i}"}
                for i, obj in enumerate(refresh)]
        subs += [{"method": "GET", "url": f"{base_url(conn)}/query?q={quote_plus(q)}", "referenceId": f"q{i}"}
                 for i, q in enumerate(soqls)]
        answers = conn.caller.call("pull", lambda subs=subs: composite(conn, subs))
        for obj, sub in zip(refresh, answers):
            if int(sub.get("httpStatusCode") or 200) < 400 and isinstance(sub.get("body"), dict):
                conn._describes[obj] = sub["body"]
        for obj, soql, sub in zip(group, soqls, answers[len(refresh):]):
            body = sub.get("body")
            if int(sub.get("httpStatusCode") or 200) >= 400 or not isinstance(body, dict):
                code, message = first_error(body)
                raise Rejected(code, message, int(sub.get("httpStatusCode") or 400))
            out[obj] = rest_of_query(conn, obj, soql, body, "pull")
    return out


def rest_of_query(conn: "SalesforceConnector", obj: str, soql: str, page: dict[str, Any], kind: str
                  ) -> list[dict[str, Any]]:
    """A query's rows from its first page: when the pages left would cost more calls than a Bulk
    query job, the same query runs as one (Bulk API 2.0 takes no ORDER BY, so the rows are put in
    that order here); else the remaining REST pages, one call each."""
    from engine.connectors import sf_bulk

    rows = list(page.get("records") or [])
    left = int(page.get("totalSize") or 0) - len(rows)
    if not page.get("done", True) and rows and math.ceil(left / len(rows)) > BULK_QUERY_CALLS:
        base, _, order = soql.partition(" ORDER BY ")
        rows = list(sf_bulk.query(conn, obj, base, kind=kind, page=SCAN_PAGE))
        field = order.split()[0] if order.strip() else None
        if field:
            rows.sort(key=lambda r: (r.get(field) is None, str(r.get(field) or "")),
                      reverse=" DESC" in order.upper())
        return rows
    return _rest_of_pages(conn, kind, page, rows)


def floor_calls(reads: int, writes: int | Mapping[str, int], activities: int | Mapping[str, int],
                objects: int = 2) -> int:
    """The fewest calls a Salesforce batch needs by the cheapest paths (D-RUN-5): reading `reads`
    emails from `objects` person objects (five queries of 200 a Composite request, or at least a
    3-call Bulk query job per object), writing `writes` records and logging `activities` (counts,
    or counts per object: a Bulk job holds one object) — each object's group by one Bulk job when
    that is cheaper (updates: create, upload, close, status; activities also read their new ids),
    the rest together in Composite requests of ⌈n/1,000⌉; an EmailMessage also needs its
    EmailMessageRelation, sent once the message has its id."""
    r = math.ceil(objects * math.ceil(reads / COLLECTION) / HEAVY)
    if reads >= BULK_FROM:
        r = min(r, objects * BULK_QUERY_CALLS)

    # each EmailMessage needs its relation, sent after the message (it needs the message's id)
    relations = 0 if isinstance(activities, int) else activities.get("EmailMessage", 0)

    def send(groups: int | Mapping[str, int], job: int) -> int:
        sizes = [groups] if isinstance(groups, int) else list(groups.values())
        bulk = [n for n in sizes if use_bulk_write(n)]
        return min(job * len(bulk) + composite_write_calls(sum(sizes) - sum(bulk)), composite_write_calls(sum(sizes)))
    return r + send(writes, BULK_WRITE_CALLS - 1) + send(activities, BULK_WRITE_CALLS) + send(relations, BULK_WRITE_CALLS)
