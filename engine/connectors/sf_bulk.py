"""Bulk API 2.0 for the Salesforce connector (D-RUN-5), through simple-salesforce's `bulk2` client:
ingest jobs for large groups of writes and activities, query jobs for large reads.

An ingest job: create (one call), upload the CSV (one), mark it `UploadComplete` (one), check its
state until it ends (one or more, waiting between checks with the retry policy's backoff), then
read only the results it needs: `failedResults` when some records failed, `successfulResults`
when the new ids matter (creates, upserts) or the job stopped, `unprocessedrecords` when it did
not finish. Each row comes back with the values sent, which is how it is matched to its write.
Failed rows (`sf__Error` = `CODE:message:fields --`) are mapped exactly as a collection's
per-record errors (`sf_paths.map_results`); unprocessed rows are sent again by the caller, and
stay pending if they cannot be. In the CSV, `#N/A` writes null and an empty cell leaves a field
unchanged (so records of one job may set different fields).

A query job: create (one call), check its state, read the CSV pages (one call each, `Sforce-
Locator`), typed back to JSON values with the object's describe.

Stopping (D-RUN-5, D-OPS): every Bulk call carries the retry policy's client timeout (simple-
salesforce's Bulk 2.0 client sets none, so its session is wrapped). When the sync stops while a
job is open or running (the job takes too long, the budget guard, expired credentials, the CRM
gone, the process interrupted), the job is aborted (`{"state": "Aborted"}`), best effort: a failed
abort is logged and the stop goes on. An ingest job aborted after its data was closed may have
processed records: its successful and failed results are read and mapped as usual, the rest stay
pending. These settling calls (the abort, then up to two results reads) are made past the budget
guard (`Caller.call_past_guard`): a few calls over the share beat records whose outcome is unknown.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from simple_salesforce import format_soql

from engine.connectors.base import ActivityCreate, RecordWrite, SyncStopped, json_value
from engine.connectors.retry import Rejected, Stop, Transient

if TYPE_CHECKING:
    from engine.connectors.salesforce import SalesforceConnector

NULL = "#N/A"
MAX_SOQL = 90_000           # characters of one query job's SOQL (Salesforce's limit is 100,000)
PAGE = 100_000              # rows per query results page
DONE = ("JobComplete", "Failed", "Aborted")
_NUMBERS = {"double": float, "currency": float, "percent": float, "int": int}
log = logging.getLogger(__name__)


class TimedSession:
    """The connector's `requests` session (its hooks feed the rate gate) with a default timeout
    on every request: simple-salesforce's Bulk 2.0 client passes none."""

    def __init__(self, session: Any, timeout: float):
        self._session = session
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return self._session.request(method, url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _client(conn: "SalesforceConnector", obj: str) -> Any:
    """simple-salesforce's Bulk 2.0 client for `obj`, its calls bounded by the policy's timeout."""
    client = getattr(conn.sf.bulk2, obj)._client  # a new client each time: its session is ours to set
    client.session = TimedSession(conn.sf.session, conn.policy.timeout)
    return client


def cell(value: Any) -> str:
    """A value as a Bulk CSV cell: null / blank as `#N/A` (sets null), lists joined by `;`."""
    value = json_value(value) if isinstance(value, (datetime, date)) else value
    if value is None or value == "":
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    return str(value)


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def parse_error(text: str) -> dict[str, Any]:
    """`sf__Error` (`CODE:message:Field1,Field2 --`) as a collection error dict."""
    body = text.strip().rstrip("-").rstrip()
    code, _, rest = body.partition(":")
    if ":" in rest:
        message, _, names = rest.rpartition(":")
    else:
        message, names = rest, ""
    return {"statusCode": code.strip() or "ERROR", "message": message.strip(),
            "fields": [f.strip() for f in names.split(",") if f.strip()]}


def in_queries(prefix: str, values: Sequence[str]) -> list[str]:
    """`prefix IN (...)` queries as long as a query job takes (values escaped)."""
    out: list[str] = []
    chunk: list[str] = []
    used = len(prefix) + 10
    for value in values:
        cost = len(format_soql("{}", value)) + 1
        if chunk and used + cost > MAX_SOQL:
            out.append(prefix + format_soql(" IN {}", chunk))
            chunk, used = [], len(prefix) + 10
        chunk.append(value)
        used += cost
    if chunk:
        out.append(prefix + format_soql(" IN {}", chunk))
    return out


# ---- jobs ------------------------------------------------------------------------------------
def _wait(conn: "SalesforceConnector", client: Any, job_id: str, is_query: bool, kind: str) -> dict[str, Any]:
    waited, delay = 0.0, conn.policy.initial
    while True:
        info = conn.caller.call(kind, lambda: client.get_job(job_id, is_query))
        if info.get("state") in DONE:
            return info
        if waited >= conn.policy.bulk_wait:
            raise Stop(SyncStopped(conn.crm, "bulk_job_timeout", f"Bulk API job {job_id} still "
                                   f"{info.get('state')} after {waited:.0f}s; the job is aborted",
                                   "its unprocessed records stay pending; the next run sends them"))
        conn.policy.sleep(delay)
        waited += delay
        delay = min(delay * 2, conn.policy.max_wait)


def _tolerate_state(fn: Any) -> None:
    """Run an upload / close whose earlier attempt may have landed: the job's answer that its
    state no longer allows the step means it did."""
    try:
        fn()
    except Rejected as exc:
        if exc.code != "INVALIDJOBSTATE":
            raise


def abort(conn: "SalesforceConnector", client: Any, job_id: str, is_query: bool, kind: str) -> dict[str, Any] | None:
    """Abort a job the sync leaves behind, best effort and past the budget guard: its info
    (Aborted, or the end it reached first), or None when the abort failed (logged)."""
    try:
        return conn.caller.call_past_guard(kind, lambda: client.abort_job(job_id, is_query))
    except Rejected as exc:
        if exc.code == "INVALIDJOBSTATE":  # it ended first (completed or failed): nothing to abort
            return {"id": job_id, "state": "ended"}
        log.warning("could not abort Bulk API job %s: %s", job_id, exc)
    except (Stop, Transient) as exc:
        log.warning("could not abort Bulk API job %s: %s", job_id, exc)
    except Exception as exc:  # noqa: BLE001 - best effort: never masks the stop being raised
        log.warning("could not abort Bulk API job %s: %s: %s", job_id, type(exc).__name__, exc)
    return None


class Aborted(Stop):
    """An ingest job stopped after its data was closed, then aborted: what Salesforce reports it
    did (`successful`, `failed` rows) before the stop; every other record stays pending."""

    def __init__(self, stop: Stop, successful: list[dict[str, str]], failed: list[dict[str, str]]):
        super().__init__(stop.stopped)
        self.successful = successful
        self.failed = failed


def _settle(conn: "SalesforceConnector", client: Any, job_id: str, kind: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The successful and failed rows of an aborted job (past the guard), or nothing if unreadable."""
    try:
        ok = parse_csv(conn.caller.call_past_guard(kind, lambda: client.get_ingest_results(job_id, "successfulResults")))
        failed = parse_csv(conn.caller.call_past_guard(kind, lambda: client.get_ingest_results(job_id, "failedResults")))
        return ok, failed
    except Exception as exc:  # noqa: BLE001 - unknown outcome: the records stay pending
        log.warning("could not read the results of aborted Bulk API job %s: %s", job_id, exc)
        return [], []


def ingest(conn: "SalesforceConnector", obj: str, operation: str, columns: list[str],
           rows: list[list[str]], kind: str, external_id: str | None = None
           ) -> tuple[dict[str, Any], list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """Run one ingest job: (job info, successful rows, failed rows, unprocessed rows); the
    successful rows are read only for inserts / upserts or a job that did not complete.

    A stop (or an interruption) while the job is open or running aborts it; a stop after the
    data was closed raises `Aborted` with what the job did first (inserts and updates)."""
    client = _client(conn, obj)
    job = conn.caller.call(kind, lambda: client.create_job(operation, external_id_field=external_id))
    job_id = job["id"]
    data = to_csv(columns, rows)
    closing: list[bool] = []

    def close() -> Any:
        closing.append(True)  # from here the job may be processing, even if the answer is lost
        return client.close_job(job_id)
    try:
        _tolerate_state(lambda: conn.caller.call(kind, lambda: client.upload_job_data(job_id, data)))
        _tolerate_state(lambda: conn.caller.call(kind, close))
        info = _wait(conn, client, job_id, False, kind)
    except BaseException as exc:  # Stop, Rejected, KeyboardInterrupt, the run's termination signal
        ended = abort(conn, client, job_id, False, kind)
        if isinstance(exc, Stop) and closing and operation in ("insert", "update"):
            successful, failed = _settle(conn, client, job_id, kind) if ended is not None else ([], [])
            raise Aborted(exc, successful, failed) from exc
        raise
    complete = info.get("state") == "JobComplete"
    failed = (parse_csv(conn.caller.call(kind, lambda: client.get_ingest_results(job_id, "failedResults")))
              if int(info.get("numberRecordsFailed") or 0) else [])
    successful = (parse_csv(conn.caller.call(kind, lambda: client.get_ingest_results(job_id, "successfulResults")))
                  if operation in ("insert", "upsert") or not complete else None)
    unprocessed = ([] if complete else
                   parse_csv(conn.caller.call(kind, lambda: client.get_ingest_results(job_id, "unprocessedrecords"))))
    return info, successful if successful is not None else [], failed, unprocessed


def _match(columns: list[str], rows: list[list[str]], answers: list[dict[str, str]]) -> list[tuple[int, dict[str, str]]]:
    """Each result row's index in what was sent, by the values it echoes back."""
    where: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        where.setdefault(tuple(row), []).append(i)
    out = []
    for answer in answers:
        key = tuple(answer.get(c, "") for c in columns)
        slots = where.get(key)
        if slots:
            out.append((slots.pop(0), answer))
    return out


def send_writes(conn: "SalesforceConnector", obj: str, writes: list[RecordWrite], op: str, result: Any,
                retry_later: list[RecordWrite], salvage: list[RecordWrite],
                unprocessed: list[RecordWrite]) -> None:
    """One Bulk ingest job for one object's updates (or creates)."""
    from engine.connectors.sf_paths import map_results

    names = list(dict.fromkeys(f for w in writes for f in w.fields))
    columns = (["Id"] if op == "update" else []) + names
    rows = [([w.record or ""] if op == "update" else []) + [cell(w.fields[f]) if f in w.fields else "" for f in names]
            for w in writes]
    try:
        info, ok, failed, left = ingest(conn, obj, "update" if op == "update" else "insert", columns, rows, "write")
    except Rejected as exc:
        result.skipped.extend(conn._skip(w, exc.code, exc.message) for w in writes)
        return
    except Aborted as stop:  # what the aborted job did is mapped; the rest stays pending
        answered: dict[int, dict[str, Any]] = {}
        for i, row in _match(columns, rows, stop.failed):
            answered[i] = {"success": False, "errors": [parse_error(row.get("sf__Error", ""))]}
        for i, row in _match(columns, rows, stop.successful):
            answered[i] = {"success": True, "id": row.get("sf__Id") or writes[i].record}
        map_results(conn, [(writes[i], res) for i, res in sorted(answered.items())], result, retry_later, salvage)
        raise Stop(stop.stopped, left=[w for i, w in enumerate(writes) if i not in answered]) from stop
    seen: set[int] = set()
    pairs: list[tuple[RecordWrite, dict[str, Any]]] = []
    for i, row in _match(columns, rows, failed):
        seen.add(i)
        pairs.append((writes[i], {"success": False, "errors": [parse_error(row.get("sf__Error", ""))]}))
    for i, _row in _match(columns, rows, left):
        seen.add(i)
        unprocessed.append(writes[i])
    if ok or op == "create" or info.get("state") != "JobComplete":
        for i, row in _match(columns, rows, ok):
            seen.add(i)
            pairs.append((writes[i], {"success": True, "id": row.get("sf__Id")}))
        unprocessed.extend(w for i, w in enumerate(writes) if i not in seen)  # no answer: send again
    else:  # a completed update job: every record not failed succeeded
        pairs.extend((w, {"success": True, "id": w.record}) for i, w in enumerate(writes) if i not in seen)
    map_results(conn, pairs, result, retry_later, salvage)


def upsert_activities(conn: "SalesforceConnector", obj: str, chunk: list[ActivityCreate], external_id: str,
                      records: list[dict[str, Any]]) -> tuple[list[tuple[ActivityCreate, dict[str, Any]]],
                                                               list[ActivityCreate]]:
    """One Bulk upsert job of activities on their external id: ((activity, SaveResult-like) for
    each answered record, the activities left unprocessed)."""
    names = list(dict.fromkeys(k for r in records for k in r if k != "attributes"))
    rows = [[cell(r[n]) if n in r else "" for n in names] for r in records]
    info, ok, failed, left = ingest(conn, obj, "upsert", names, rows, "activity", external_id)
    answered: list[tuple[ActivityCreate, dict[str, Any]]] = []
    seen: set[int] = set()
    for i, row in _match(names, rows, ok):
        seen.add(i)
        answered.append((chunk[i], {"success": True, "id": row.get("sf__Id"),
                                    "created": row.get("sf__Created") == "true"}))
    for i, row in _match(names, rows, failed):
        seen.add(i)
        answered.append((chunk[i], {"success": False, "errors": [parse_error(row.get("sf__Error", ""))]}))
    return answered, [a for i, a in enumerate(chunk) if i not in seen]


def query(conn: "SalesforceConnector", obj: str, soql: str, kind: str = "read", page: int = PAGE
          ) -> Iterator[dict[str, Any]]:
    """The rows of one Bulk query job, typed as the REST API returns them."""
    from simple_salesforce.bulk2 import Operation

    client = _client(conn, obj)
    job = conn.caller.call(kind, lambda: client.create_job(Operation.query, query=soql))
    try:
        info = _wait(conn, client, job["id"], True, kind)
    except BaseException:  # the sync stops (or the process is interrupted) while the job runs
        abort(conn, client, job["id"], True, kind)
        raise
    if info.get("state") != "JobComplete":
        raise Rejected("BULK_QUERY_FAILED", str(info.get("errorMessage") or info.get("state")))
    kinds = conn.field_kinds(obj)
    locator = ""
    while True:
        answer = conn.caller.call(kind, lambda: client.get_query_results(job["id"], locator, page))
        for row in parse_csv(answer["records"]):
            yield {k: typed(kinds.get(k), v) for k, v in row.items()}
        locator = answer.get("locator") or ""
        if not locator:
            return


def typed(kind: str | None, value: str) -> Any:
    """A Bulk query CSV cell as the REST API's JSON value (empty is null)."""
    if value == "":
        return None
    if kind == "boolean":
        return value.lower() == "true"
    convert = _NUMBERS.get(kind or "")
    if convert is not None:
        try:
            return convert(float(value)) if convert is int else convert(value)
        except ValueError:
            return value
    return value
