"""Salesforce Bulk API 2.0 routes of the sandbox, under `/services/data/vXX.X/jobs/`.

Ingest jobs: `POST jobs/ingest` (object, operation insert / update / upsert / delete,
`externalIdFieldName`, CSV) -> `Open`; one `PUT jobs/ingest/<id>/batches` of CSV; `PATCH
jobs/ingest/<id>` `{"state": "UploadComplete"}` processes the records (each on its own: one bad
record never stops the others) -> `JobComplete`, or `Failed` when the `bulk_fail` fault stops the
job midway; `{"state": "Aborted"}` aborts a job not yet ended (`Open`, `UploadComplete`, `InProgress`; an
ended one answers 409 `INVALIDJOBSTATE`): the records processed so far keep their results, the
others are listed in `unprocessedrecords`. The `bulk_hold` fault holds a job `InProgress` at a
record (those before it processed); each status check resumes it until the fault lets go. `GET jobs/ingest/<id>` gives the job info
with `numberRecordsProcessed` / `numberRecordsFailed`; `successfulResults` (`sf__Id`,
`sf__Created`, the fields sent), `failedResults` (`sf__Id`, `sf__Error`, the fields sent) and
`unprocessedrecords` (the fields sent) are CSV. In the CSV, `#N/A` sets a field to null and an
empty value leaves it unchanged, as in Salesforce.

Query jobs: `POST jobs/query` `{"operation": "query", "query": soql}` -> `UploadComplete`; `GET
jobs/query/<id>` -> `JobComplete`; `GET jobs/query/<id>/results?maxRecords=&locator=` pages the
CSV rows with the `Sforce-Locator` (`null` on the last page) and `Sforce-NumberOfRecords` headers;
a status check the `bulk_hold` fault matches keeps the job `InProgress`; `PATCH jobs/query/<id>`
`{"state": "Aborted"}` aborts it, and an aborted job has no results (409 `INVALIDJOBSTATE`).

Every one of these calls counts once against the daily API allowance (the server counts them);
the daily Bulk allocations (query jobs, batches of 10,000 records) are tracked for `/limits`.
"""

from __future__ import annotations

import csv
import io
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from sandbox import soql
from sandbox.http import Request, Response
from sandbox.salesforce import _body, _candidates, _describe, sf_error
from sandbox.sf_records import SfWriter

NULL = "#N/A"
OPERATIONS = ("insert", "update", "upsert", "delete")
BATCH_RECORDS = 10_000  # Salesforce counts one batch per 10,000 records of an ingest job


@dataclass
class Job:
    id: str
    kind: str                       # "ingest" | "query"
    info: dict[str, Any]
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    successful: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failed: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    uploaded: bool = False
    position: int = 0               # the next row to process (a job held InProgress resumes here)
    result_columns: list[str] = field(default_factory=list)
    results: list[list[str]] = field(default_factory=list)


class BulkJobs:
    """The jobs of one sandbox and the day's Bulk allocations used."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.usage = {"query_jobs": 0, "batches": 0}

    def reset(self) -> None:
        self.usage = {"query_jobs": 0, "batches": 0}


def _jobs(app: Any) -> BulkJobs:
    if getattr(app, "bulk", None) is None:
        app.bulk = BulkJobs()
    return app.bulk


def _new_id(prefix: str) -> str:
    return (prefix + "5g" + secrets.token_hex(8)).upper()[:15] + "AAA"


def _csv(columns: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _csv_response(data: bytes, records: int, headers: dict[str, str] | None = None) -> Response:
    return Response(200, data, headers={"Content-Type": "text/csv", **(headers or {})},
                    records=records)


def _job_error(status: int, code: str, message: str) -> Response:
    return sf_error(status, code, message)


def _get(app: Any, kind: str, job_id: str) -> Job | None:
    job = _jobs(app).jobs.get(job_id)
    return job if job is not None and job.kind == kind else None


# ---- ingest -----------------------------------------------------------------------------------
def create_ingest(app: Any, req: Request, version: str) -> Response:
    body = _body(req)
    if not isinstance(body, dict):
        return _job_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    operation = str(body.get("operation") or "")
    if operation not in OPERATIONS:
        return _job_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    describe = _describe(app, str(body.get("object") or ""))
    if describe is None:
        return _job_error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
    external = body.get("externalIdFieldName")
    if operation == "upsert" and not external:
        return _job_error(400, "INVALIDJOB", "InvalidJob : External ID was blank for "
                          f"{describe['name']}. An External ID must be specified for upsert.")
    if (body.get("contentType") or "CSV") != "CSV":
        return _job_error(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
    job_id = _new_id("750")
    now = app.store.now_sf()
    info = {"id": job_id, "operation": operation, "object": describe["name"],
            "createdById": "0055g00000SANDBOXAAA", "createdDate": now, "systemModstamp": now,
            "state": "Open", "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(version), "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches",
            "lineEnding": body.get("lineEnding") or "LF",
            "columnDelimiter": body.get("columnDelimiter") or "COMMA"}
    if external:
        info["externalIdFieldName"] = external
    _jobs(app).jobs[job_id] = Job(job_id, "ingest", info)
    return Response(200, info)


def upload(app: Any, req: Request, version: str, job_id: str) -> Response:
    job = _get(app, "ingest", job_id)
    if job is None:
        return _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    if job.info["state"] != "Open" or job.uploaded:
        return _job_error(409, "INVALIDJOBSTATE", "Job's current state doesn't allow this "
                          "operation: a job takes one upload of data, while Open")
    try:
        text = req.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _job_error(400, "INVALIDBATCH", "InvalidBatch : the data is not UTF-8")
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if r]
    if not rows:
        return _job_error(400, "INVALIDBATCH", "InvalidBatch : no data")
    job.columns = rows[0]
    job.rows = [dict(zip(job.columns, r)) for r in rows[1:]]
    job.uploaded = True
    return Response(201)


def _error_text(errors: list[dict[str, Any]]) -> str:
    e = errors[0]
    return f"{e['statusCode']}:{e['message']}:{','.join(e.get('fields') or [])} --"


def _process(app: Any, req: Request, job: Job) -> None:
    """Apply the uploaded rows one by one from `job.position`; a `bulk_fail` fault stops the job
    at a record, a `bulk_hold` fault leaves it `InProgress` there (resumed at the next check)."""
    obj, operation = job.info["object"], job.info["operation"]
    external = job.info.get("externalIdFieldName")
    fields = SfWriter(app.store, app.describes).fields_of(obj)
    unknown = [c for c in job.columns if c.lower() not in fields]
    if unknown:
        job.info.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found : "
                        f"{unknown[0]}", numberRecordsProcessed=0, numberRecordsFailed=0)
        job.unprocessed = list(job.rows)
        return
    writer = SfWriter(app.store, app.describes)
    stopped_at: int | None = None
    held = False
    for index in range(job.position, len(job.rows)):
        row = job.rows[index]
        if app.faults.reject("salesforce", req.method, req.path, kind="bulk_hold"):
            held = True
            break
        if app.faults.reject("salesforce", req.method, req.path, kind="bulk_fail"):
            stopped_at = index
            break
        job.position = index + 1
        data = {k: (None if v == NULL else v) for k, v in row.items() if v != ""}
        rid = next((v for k, v in row.items() if k.lower() == "id" and v), "")
        if app.reject("salesforce", req):
            job.failed.append((rid, "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to "
                               "this record or 1 records: " + rid + ": --", row))
            continue
        created = False
        if operation == "insert":
            rec, errors = writer.create(obj, data)
            created = not errors
        elif operation == "update":
            rec, errors = (writer.update(obj, rid, data) if rid else
                           (None, [{"statusCode": "MISSING_ARGUMENT",
                                    "message": "Id not specified in an update call",
                                    "fields": []}]))
        elif operation == "upsert":
            key = next((k for k in row if k.lower() == str(external).lower()), None)
            value = row.get(key or "", "")
            if not value:
                rec, errors = None, [{"statusCode": "MISSING_ARGUMENT",
                                      "message": f"{external} not specified", "fields": []}]
            else:
                rec, created, errors = writer.upsert(obj, str(external), value, data)
        else:
            errors = writer.delete(obj, rid)
            rec = {"Id": rid} if not errors else None
        if errors:
            job.failed.append((rid if operation != "insert" else "", _error_text(errors), row))
        else:
            job.successful.append((rec["Id"] if rec else rid, created, row))
    writer.commit()
    done = len(job.successful) + len(job.failed)
    job.info.update(numberRecordsProcessed=done, numberRecordsFailed=len(job.failed),
                    retries=0, totalProcessingTime=1, apiActiveProcessingTime=1,
                    apexProcessingTime=0)
    if held:
        job.info["state"] = "InProgress"
        return
    if stopped_at is not None:
        job.unprocessed = job.rows[stopped_at:]
        job.info.update(state="Failed", errorMessage="InternalServerError : the job stopped "
                        f"after {done} of {len(job.rows)} records; the rest were not processed")
    else:
        job.info["state"] = "JobComplete"
    _jobs(app).usage["batches"] += max(1, math.ceil(len(job.rows) / BATCH_RECORDS))


def set_state(app: Any, req: Request, version: str, job_id: str) -> Response:
    job = _get(app, "query" if "/jobs/query/" in req.path else "ingest", job_id)
    if job is None:
        return _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    body = _body(req)
    state = (body or {}).get("state") if isinstance(body, dict) else None
    if state == "Aborted":
        if job.info["state"] in ("JobComplete", "Failed", "Aborted"):
            return _job_error(409, "INVALIDJOBSTATE", "Job's current state doesn't allow abort: "
                              f"{job.info['state']}")
        job.info["state"] = "Aborted"
        job.unprocessed = list(job.rows[job.position:])  # processed records keep their results
        return Response(200, dict(job.info))
    if state != "UploadComplete" or job.kind != "ingest":
        return _job_error(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
    if job.info["state"] != "Open":
        return _job_error(409, "INVALIDJOBSTATE", "Job's current state doesn't allow this "
                          f"operation: {job.info['state']}")
    if not job.uploaded:
        job.info.update(state="Failed", errorMessage="InvalidBatch : no data was uploaded")
        return Response(200, job.info)
    job.info["state"] = "UploadComplete"
    reply = dict(job.info)
    _process(app, req, job)  # the sandbox processes at once; the reply still says UploadComplete
    return Response(200, reply, records=len(job.successful))


def job_info(app: Any, req: Request, version: str, job_id: str) -> Response:
    kind = "query" if "/jobs/query/" in req.path else "ingest"
    job = _get(app, kind, job_id)
    if job is None:
        return _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    if job.info["state"] in ("UploadComplete", "InProgress"):
        if app.faults.reject("salesforce", req.method, req.path, kind="bulk_hold"):
            job.info["state"] = "InProgress"
        elif kind == "query":
            job.info["state"] = "JobComplete"  # queries finish by the first status check
        else:
            _process(app, req, job)  # an ingest job held InProgress resumes
    return Response(200, dict(job.info))


def delete_job(app: Any, req: Request, version: str, job_id: str) -> Response:
    kind = "query" if "/jobs/query/" in req.path else "ingest"
    if _get(app, kind, job_id) is None:
        return _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    del _jobs(app).jobs[job_id]
    return Response(204)


def ingest_results(app: Any, req: Request, version: str, job_id: str, which: str) -> Response:
    job = _get(app, "ingest", job_id)
    if job is None:
        return _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    if job.info["state"] not in ("JobComplete", "Failed", "Aborted"):
        return _job_error(409, "INVALIDJOBSTATE", "Job's current state doesn't allow results: "
                          f"{job.info['state']}")
    cols = job.columns
    which = which.lower()
    if which == "successfulresults":
        rows = [[rid, "true" if created else "false", *[row.get(c, "") for c in cols]]
                for rid, created, row in job.successful]
        return _csv_response(_csv(["sf__Id", "sf__Created", *cols], rows), len(rows))
    if which == "failedresults":
        rows = [[rid, error, *[row.get(c, "") for c in cols]] for rid, error, row in job.failed]
        return _csv_response(_csv(["sf__Id", "sf__Error", *cols], rows), len(rows))
    rows = [[row.get(c, "") for c in cols] for row in job.unprocessed]
    return _csv_response(_csv(cols, rows), len(rows))


# ---- query ------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def create_query(app: Any, req: Request, version: str) -> Response:
    body = _body(req)
    if not isinstance(body, dict):
        return _job_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    operation = body.get("operation") or "query"
    if operation not in ("query", "queryAll"):
        return _job_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    text = str(body.get("query") or "")
    try:
        parsed = soql.parse(text, lambda n: _describe(app, n), app.store.clock().date())
    except soql.SoqlError as exc:
        return _job_error(400, "INVALIDJOB", f"{exc.code}: {exc.message}")
    if parsed.count:
        return _job_error(400, "INVALIDJOB", "InvalidJob : COUNT() is not supported by Bulk "
                          "API 2.0 query jobs")
    jobs = _jobs(app)
    if jobs.usage["query_jobs"] >= 10_000:
        return _job_error(400, "LIMIT_EXCEEDED", "Max number of Bulk API 2.0 query jobs per day "
                          "reached")
    jobs.usage["query_jobs"] += 1
    records = [r for r in _candidates(app, parsed)
               if operation == "queryAll" or not r.get("IsDeleted")]
    rows = soql.run(parsed, records)
    job_id = _new_id("750")
    now = app.store.now_sf()
    info = {"id": job_id, "operation": operation, "object": parsed.sobject,
            "createdById": "0055g00000SANDBOXAAA", "createdDate": now, "systemModstamp": now,
            "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(version), "jobType": "V2Query",
            "lineEnding": body.get("lineEnding") or "LF",
            "columnDelimiter": body.get("columnDelimiter") or "COMMA",
            "numberRecordsProcessed": len(rows), "retries": 0, "totalProcessingTime": 1}
    job = Job(job_id, "query", info, result_columns=list(parsed.fields),
              results=[[_cell(r.get(f)) for f in parsed.fields] for r in rows])
    jobs.jobs[job_id] = job
    return Response(200, dict(info))


def query_results(app: Any, req: Request, version: str, job_id: str) -> Response:
    job = _get(app, "query", job_id)
    if job is None:
        return _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    if job.info["state"] == "UploadComplete":
        job.info["state"] = "JobComplete"
    if job.info["state"] != "JobComplete":
        return _job_error(409, "INVALIDJOBSTATE", "Job's current state doesn't allow results: "
                          f"{job.info['state']}")
    locator = req.arg("locator") or ""
    try:
        start = int(locator) if locator else 0
        size = int(req.arg("maxRecords") or 0) or len(job.results) or 1
    except ValueError:
        return _job_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    if start < 0 or start > len(job.results):
        return _job_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    chunk = job.results[start:start + size]
    nxt = start + size
    headers = {"Sforce-Locator": str(nxt) if nxt < len(job.results) else "null",
               "Sforce-NumberOfRecords": str(len(chunk))}
    return _csv_response(_csv(job.result_columns, chunk), len(chunk), headers)


ROUTES = [
    ("POST", r"/jobs/ingest/?", create_ingest, "sf.bulk.create"),
    ("PUT", r"/jobs/ingest/(?P<job_id>\w+)/batches/?", upload, "sf.bulk.upload"),
    ("PATCH", r"/jobs/ingest/(?P<job_id>\w+)/?", set_state, "sf.bulk.state"),
    ("GET", r"/jobs/ingest/(?P<job_id>\w+)/?", job_info, "sf.bulk.job"),
    ("DELETE", r"/jobs/ingest/(?P<job_id>\w+)/?", delete_job, "sf.bulk.delete"),
    ("GET", r"/jobs/ingest/(?P<job_id>\w+)/(?P<which>(?i:successfulResults|failedResults|"
     r"unprocessedrecords))/?", ingest_results, "sf.bulk.results"),
    ("POST", r"/jobs/query/?", create_query, "sf.bulk.query"),
    ("GET", r"/jobs/query/(?P<job_id>\w+)/?", job_info, "sf.bulk.query_job"),
    ("PATCH", r"/jobs/query/(?P<job_id>\w+)/?", set_state, "sf.bulk.query_state"),
    ("DELETE", r"/jobs/query/(?P<job_id>\w+)/?", delete_job, "sf.bulk.query_delete"),
    ("GET", r"/jobs/query/(?P<job_id>\w+)/results/?", query_results, "sf.bulk.query_results"),
]
