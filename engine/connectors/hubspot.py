"""The HubSpot connector (hubspot-api-client): contacts found by email through search (100 emails a
call), batch read / update / create in chunks of 100, emails and tasks upserted on
`unify_event_id` and associated to the contact, properties -> metadata snapshot, incremental pull by
`lastmodifieddate`.

Calls use the client's typed endpoints with `_preload_content=False`, so the connector sees the
raw JSON (a 207 partial answer is handled record by record; nothing raises for it) and the
rate-limit headers. A batch HubSpot refuses whole (400: one invalid value fails all 100) is split
in halves until the offending inputs are alone; they are skipped with HubSpot's own message.
"""

from __future__ import annotations

import json
from datetime import date, datetime, UTC
from typing import Any, Callable, Iterable, Mapping, Sequence

import urllib3

from engine.connectors.base import (ActivityCreate, Clock, ConnectionProblem, ConnectorPlumbing, CreatedActivity,
                                    Sent, Pull, RecordWrite, SyncStopped, Written, norm_email, system_clock)
from engine.connectors.retry import Rejected, RetryPolicy, Stop, Transient, parse_retry_after

CHUNK = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
EXTERNAL_ID = "unify_event_id"
PERSON_OBJECTS = ("contacts",)
RECORD_TRANSIENT = frozenset({"LOCKED", "RATE_LIMITS"})


def hs_value(value: Any) -> str:
    """HubSpot stores every property as a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _props(fields: Mapping[str, Any]) -> dict[str, str]:
    """Property values as HubSpot takes them; a None is left out (sending "" would clear it)."""
    return {k: hs_value(v) for k, v in fields.items() if v is not None}


def _body(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            return {"message": raw[:500]}
    return raw


class HubSpotConnector(ConnectorPlumbing):
    """`Connector` for one HubSpot account."""

    crm = "hubspot"
    person_objects = PERSON_OBJECTS

    def __init__(self, client: Any, *, policy: RetryPolicy | None = None, clock: Clock = system_clock):
        super().__init__(policy=policy, clock=clock)
        self.client = client
        crm = client.crm
        # Each discovery access builds a new ApiClient (and connection pool): build them once.
        self._contacts = crm.contacts.batch_api
        self._search = crm.contacts.search_api
        self._upsert = {"emails": crm.objects.emails.batch_api, "tasks": crm.objects.tasks.batch_api}
        self._assoc = crm.associations.v4.batch_api
        self._properties_api = crm.properties.core_api
        self._properties: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def connect(cls, values: Mapping[str, Any], *, settings: Any = None, host: str | None = None,
                ca_file: str | None = None, policy: RetryPolicy | None = None,
                clock: Clock = system_clock) -> "HubSpotConnector | ConnectionProblem":
        from hubspot import Client
        config: dict[str, Any] = {"access_token": values["access_token"], "retry": False}
        if host:
            config["host"] = host.rstrip("/")
        if ca_file:
            config["ssl_ca_cert"] = ca_file
        try:
            client = Client.create(**config)
        except Exception as exc:  # noqa: BLE001 - a client that cannot be built is a connection problem
            return ConnectionProblem("hubspot", "CONN004", f"cannot set up the HubSpot client: {exc}")
        return cls(client, policy=policy, clock=clock)

    # ---- plumbing ------------------------------------------------------------------------------
    def _classify(self, exc: BaseException) -> Exception | None:
        if isinstance(exc, (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.NewConnectionError)):
            return Transient(f"cannot connect: {exc}")
        if isinstance(exc, urllib3.exceptions.HTTPError):
            return Transient(f"connection lost or timed out: {exc}", unknown_outcome=True)
        if isinstance(exc, OSError):
            return Transient(f"connection error: {exc}", unknown_outcome=True)
        status = getattr(exc, "status", None)
        if status is None or not hasattr(exc, "body"):
            return None
        headers = getattr(exc, "headers", None) or {}
        self.caller.gate.note(headers)
        body = _body(exc.body) or {}
        category = str(body.get("category") or body.get("errorType") or status)
        message = str(body.get("message") or getattr(exc, "reason", "") or "")
        if status == 0:
            return Transient(f"transport error: {getattr(exc, 'reason', exc)}", unknown_outcome=True)
        if status == 401:
            return Stop(SyncStopped(self.crm, "expired_credentials", f"{category}: {message}",
                                    "renew the HubSpot access token; unsent writes stay pending"))
        if status == 429:
            if "DAILY" in str(body.get("policyName", "")).upper():
                return Stop(SyncStopped(self.crm, "request_limit_exceeded", message or "daily limit reached",
                                        "the sync resumes when the daily limit resets; nothing is lost"))
            after = parse_retry_after({str(k).lower(): v for k, v in headers.items()}.get("retry-after"))
            return Transient(f"HTTP 429 {category}: {message}", retry_after=after, status=429)
        if status >= 500:
            return Transient(f"HTTP {status} {category}: {message}", unknown_outcome=status != 503, status=status)
        if status == 403 and (category == "RATE_LIMITS" or "REQUEST_LIMIT_EXCEEDED" in message):
            return Stop(SyncStopped(self.crm, "request_limit_exceeded", f"{category}: {message}",
                                    "the account's API limit is used up; the sync resumes later, nothing is lost"))
        if status == 403:
            return Stop(SyncStopped(self.crm, "permission_denied", f"{category}: {message}",
                                    "the private app lacks a scope (crm.objects.contacts.write, ...)"))
        details = [e for e in body.get("errors") or [] if isinstance(e, dict) and e.get("message")]
        names: list[str] = []
        if details:
            message = "; ".join(str(e["message"]) for e in details)
            names = [str(n) for e in details for n in (e.get("context") or {}).get("propertyName") or []]
            category = str(details[0].get("code") or category) if len(details) == 1 else category
        return Rejected(category, message, status, names[0] if names else None, tuple(names))

    def _json(self, kind: str, fn: Callable[[], Any], on_retry: Callable[[Transient], None] | None = None) -> Any:
        def call() -> Any:
            resp = fn()
            self.caller.gate.note(dict(resp.headers))
            return _body(resp.data)
        return self.caller.call(kind, call, on_retry=on_retry)

    def _opts(self) -> dict[str, Any]:
        return {"_preload_content": False, "_request_timeout": self.policy.timeout}

    def properties(self, obj: str = "contacts") -> list[dict[str, Any]]:
        if obj not in self._properties:
            raw = self._json("describe", lambda: self._properties_api.get_all(obj, **self._opts()))
            self._properties[obj] = list((raw or {}).get("results") or [])
        return self._properties[obj]

    def field_kinds(self, obj: str = "contacts") -> dict[str, str]:
        return {p["name"]: f"{p.get('type')}/{p.get('fieldType')}" for p in self.properties(obj)}

    # ---- reads ---------------------------------------------------------------------------------
    def _record(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": str(raw["id"]), "properties": dict(raw.get("properties") or {}),
                "createdAt": raw.get("createdAt"), "updatedAt": raw.get("updatedAt")}

    def _search_all(self, body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page_body = dict(body, limit=SEARCH_LIMIT, **({"after": after} if after else {}))
            page = self._json(kind, lambda b=page_body: self._search.do_search(b, **self._opts())) or {}
            rows.extend(self._record(r) for r in page.get("results") or [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return rows

    def _names(self, wanted: Iterable[str] | None) -> list[str]:
        names = [p["name"] for p in self.properties("contacts")]
        if wanted is None:
            return names
        known = set(names)
        return [n for n in dict.fromkeys(["email", "lastmodifieddate", "createdate", *wanted]) if n in known]

    def read_records(self, emails: Iterable[str] = (), ids: Mapping[str, Iterable[str]] | None = None,
                     objects: Iterable[str] | None = None,
                     fields: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Contacts holding these emails (search, `IN`, 100 a call) or these ids (batch read)."""
        names = self._names((fields or {}).get("contacts"))
        wanted = sorted({e for e in (norm_email(x) for x in emails) if e})
        seen: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            body = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "values": chunk}]}],
                    "properties": names, "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
            for rec in self._search_all(body, "read"):
                seen[rec["id"]] = rec
        todo = sorted({str(i) for i in (ids or {}).get("contacts", ()) if i} - set(seen))
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            body = {"inputs": [{"id": i} for i in chunk], "properties": names, "propertiesWithHistory": []}
            raw = self._json("read", lambda b=body: self._contacts.read(b, **self._opts())) or {}
            for rec in raw.get("results") or []:
                seen[str(rec["id"])] = self._record(rec)
        return {"contacts": list(seen.values())}

    def pull_changes(self, since: Mapping[str, str] | None = None, objects: Iterable[str] | None = None) -> Pull:
        """Contacts modified after the cursor, oldest first; restarts past the 10,000-result cap."""
        cursor = dict(since or {})
        rows: list[dict[str, Any]] = []
        names = self._names(None)
        try:
            while True:
                body: dict[str, Any] = {"properties": names,
                                        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
                if cursor.get("contacts"):
                    body["filterGroups"] = [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                                          "value": cursor["contacts"]}]}]
                batch: list[dict[str, Any]] = []
                after = 0
                while True:
                    page_body = dict(body, limit=SEARCH_LIMIT, after=str(after))
                    page = self._json("pull", lambda b=page_body: self._search.do_search(b, **self._opts())) or {}
                    batch.extend(self._record(r) for r in page.get("results") or [])
                    nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
                    if not nxt or int(nxt) + SEARCH_LIMIT > SEARCH_CAP:
                        break
                    after = int(nxt)
                rows.extend(batch)
                if batch:
                    cursor["contacts"] = batch[-1]["properties"].get("lastmodifieddate") or batch[-1]["updatedAt"]
                if not nxt:
                    break
        except (Stop, Rejected) as exc:
            stopped = exc.stopped if isinstance(exc, Stop) else SyncStopped(self.crm, "rejected", str(exc))
            return Pull({"contacts": rows}, dict(since or {}), stopped)
        return Pull({"contacts": rows}, cursor)

    def read_metadata(self, objects: Iterable[str] = PERSON_OBJECTS) -> dict[str, Any]:
        """`GET /crm/v3/properties/contacts` as HubSpot returns it (``{"results": [...]}``)."""
        objects = list(objects)
        if objects == ["contacts"]:
            return {"results": self.properties("contacts")}
        return {obj: {"results": self.properties(obj)} for obj in objects}

    # ---- batches -------------------------------------------------------------------------------
    def _batch(self, kind: str, items: list[Any], send: Callable[[list[Any]], Any],
               key_of_item: Callable[[int, Any], str], key_of_result: Callable[[dict[str, Any]], str | None],
               result: Sent, retry_later: list[Any],
               on_retry: Callable[[list[Any], Transient], None] | None = None,
               done: dict[str, Any] | None = None,
               rescue: Callable[[dict[str, tuple[Any, dict[str, Any]]]], dict[str, dict[str, Any]]] | None = None,
               salvage: list[Any] | None = None) -> list[tuple[Any, dict[str, Any]]]:
        """Send one batch; (item, result) for each success. Failures go to skipped / retry_later.

        A batch refused whole for an invalid value (400) is halved until the culprit is alone.
        """
        done = {} if done is None else done
        try:
            answer = self._json(kind, lambda: send([it for i, it in enumerate(items)
                                                    if key_of_item(i, it) not in done]),
                                on_retry=(lambda exc: on_retry(items, exc)) if on_retry else None) or {}
        except Rejected as exc:
            if len(items) > 1 and exc.status == 400:
                half = len(items) // 2
                return (self._batch(kind, items[:half], send, key_of_item, key_of_result, result, retry_later,
                                    on_retry, done, rescue, salvage)
                        + self._batch(kind, items[half:], send, key_of_item, key_of_result, result, retry_later,
                                      on_retry, done, rescue, salvage))
            rest = items[0].without(exc.fields) if (salvage is not None and len(items) == 1 and exc.fields
                                                    and isinstance(items[0], RecordWrite)) else None
            if rest is not None:  # HubSpot named the properties it refuses: the others are sent again
                result.skipped.extend(self._skip(items[0], exc.code, exc.message, f) for f in exc.fields)
                salvage.append(rest)
                return []
            result.skipped.extend(self._skip(it, exc.code, exc.message, exc.field) for it in items)
            return []
        keys = {key_of_item(i, it): it for i, it in enumerate(items)}
        ok: list[tuple[Any, dict[str, Any]]] = [(keys[k], v) for k, v in done.items() if k in keys]
        for res in answer.get("results") or []:
            key = key_of_result(res)
            if key in keys and key not in done:
                done[key] = res
                ok.append((keys[key], res))
        failed = [k for k in keys if k not in done]
        if not failed:
            return ok
        blame: dict[str, dict[str, Any]] = {}
        loose: list[dict[str, Any]] = []
        for err in answer.get("errors") or []:
            ctx = err.get("context") or {}
            hits = [str(v) for name in ("ids", "objectWriteTraceId", "id") for v in ctx.get(name) or []]
            hits = [h for h in hits if h in keys and h not in done]
            for h in hits:
                blame[h] = err
            if not hits:
                loose.append(err)
        unblamed = [k for k in failed if k not in blame]
        for k in unblamed:
            if len(unblamed) == 1 and len(loose) == 1:
                blame[k] = loose[0]
            elif loose:
                blame[k] = {"category": loose[0].get("category", "ERROR"),
                            "message": "; ".join(str(e.get("message")) for e in loose)}
            else:
                blame[k] = {"category": "NO_RESULT", "message": "HubSpot returned no result for this input"}
        if rescue is not None:
            for k, res in rescue({k: (keys[k], blame[k]) for k in failed}).items():
                done[k] = res
                ok.append((keys[k], res))
        for k in failed:
            if k in done:
                continue
            err = blame[k]
            category = str(err.get("category") or "ERROR")
            if category in RECORD_TRANSIENT:
                retry_later.append(keys[k])
            else:
                props = [str(p) for p in (err.get("context") or {}).get("propertyName") or []]
                item = keys[k]
                rest = item.without(props) if salvage is not None and props and isinstance(item, RecordWrite) else None
                for prop in props or [None]:
                    result.skipped.append(self._skip(item, category, str(err.get("message") or ""), prop))
                if rest is not None:
                    salvage.append(rest)
        return ok

    def _passes(self, todo: list[Any], run_chunk: Callable[[list[Any], list[Any], list[Any]], None],
                result: Sent, message: str) -> None:
        """Chunks of 100; then the records refused for a lock again (up to `record_retries` more
        passes) and the updates refused for named properties again without them."""
        lock_passes = 0
        while todo:
            retry_later: list[Any] = []
            salvage: list[Any] = []
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start:start + CHUNK]
                try:
                    run_chunk(chunk, retry_later, salvage)
                except Stop:
                    result.pending.extend(chunk)
                    result.pending.extend(todo[start + CHUNK:])
                    result.pending.extend(retry_later + salvage)
                    raise
            if retry_later:
                lock_passes += 1
                if lock_passes > self.policy.record_retries:
                    result.skipped.extend(self._skip(it, "LOCKED", message) for it in retry_later)
                    retry_later = []
            todo = retry_later + salvage

    # ---- writes --------------------------------------------------------------------------------
    def apply_writes(self, writes: Sequence[RecordWrite]) -> Sent:
        """Batch update by id, then batch create (read-before-retry by email), 100 a call."""
        result = Sent()
        updates = [w for w in writes if w.op == "update"]
        creates = [w for w in writes if w.op == "create"]

        def run_updates(chunk: list[RecordWrite], retry_later: list[RecordWrite], salvage: list[RecordWrite]) -> None:
            def send(items: list[RecordWrite]) -> Any:
                body = {"inputs": [{"id": w.record, "properties": _props(w.fields)} for w in items]}
                return self._contacts.update(body, **self._opts())
            ok = self._batch("write", chunk, send, lambda i, w: str(w.record), lambda r: str(r.get("id")),
                             result, retry_later, salvage=salvage)
            result.written.extend(Written(self.crm, w.object, str(res["id"]), w.email, "update", w.fields,
                                          w.before, w.sources) for w, res in ok)

        def run_creates(chunk: list[RecordWrite], retry_later: list[RecordWrite], salvage: list[RecordWrite]) -> None:
            def key(i: int, w: RecordWrite) -> str:
                return w.email or f"#{i}"

            def send(items: list[RecordWrite]) -> Any:
                body = {"inputs": [{"properties": _props({**w.fields, "email": w.email}),
                                    "objectWriteTraceId": w.email or ""} for w in items]}
                return self._contacts.create(body, **self._opts())

            done: dict[str, Any] = {}

            unknown: list[bool] = []

            def read_back(emails: list[str]) -> dict[str, dict[str, Any]]:
                if not emails:
                    return {}
                body = {"idProperty": "email", "inputs": [{"id": e} for e in emails], "properties": ["email"],
                        "propertiesWithHistory": []}
                raw = self._json("read", lambda: self._contacts.read(body, **self._opts())) or {}
                found = {}
                for rec in raw.get("results") or []:
                    email = norm_email((rec.get("properties") or {}).get("email"))
                    if email:
                        found[email] = rec
                return found

            def reconcile(items: list[RecordWrite], exc: Transient) -> None:
                """Read-before-retry: creates whose answer was lost may have landed."""
                if exc.unknown_outcome:
                    unknown.append(True)
                    self.policy.sleep(self.policy.settle_time)  # let an in-flight request land first
                    done.update(read_back([w.email for w in items if w.email and w.email not in done]))

            def rescue(failed: dict[str, tuple[RecordWrite, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
                """After a lost answer, 'already exists' means our first try landed: it is ours."""
                if not unknown:
                    return {}
                return read_back([k for k, (_w, err) in failed.items() if err.get("category") == "CONFLICT"])

            ok = self._batch("write", chunk, send, key,
                             lambda r: norm_email((r.get("properties") or {}).get("email")) or "",
                             result, retry_later, on_retry=reconcile, done=done, rescue=rescue)
            result.written.extend(Written(self.crm, w.object, str(res["id"]), w.email, "create", w.fields,
                                          w.before, w.sources) for w, res in ok)

        try:
            self._passes(updates, run_updates, result, "the record stayed locked")
        except Stop as stop:
            result.stopped = stop.stopped
            result.pending.extend(creates)
            return result
        try:
            self._passes(creates, run_creates, result, "the record stayed locked")
        except Stop as stop:
            result.stopped = stop.stopped
        return result

    def create_activities(self, activities: Sequence[ActivityCreate]) -> Sent:
        """Emails and tasks upserted on `unify_event_id`, then associated to their contact."""
        result = Sent()
        order = ("emails", "tasks")
        others = [a for a in activities if a.object not in order]
        result.skipped.extend(self._skip(a, "INVALID_TYPE", f"cannot log a {a.object} activity") for a in others)
        for pos, obj in enumerate(order):
            todo = [a for a in activities if a.object == obj]

            def run(chunk: list[ActivityCreate], retry_later: list[ActivityCreate], salvage: list[ActivityCreate],
                    obj: str = obj) -> None:
                def send(items: list[ActivityCreate]) -> Any:
                    body = {"inputs": [{"idProperty": EXTERNAL_ID, "id": a.external_id,
                                        "properties": _props({**a.fields, EXTERNAL_ID: a.external_id})}
                                       for a in items]}
                    return self._upsert[obj].upsert(body, **self._opts())

                ok = self._batch("activity", chunk, send, lambda i, a: a.external_id,
                                 lambda r: (r.get("properties") or {}).get(EXTERNAL_ID), result, retry_later)
                pairs = [{"from": {"id": str(res["id"])}, "to": {"id": str(a.record)}} for a, res in ok if a.record]
                if pairs:
                    try:  # associating twice is harmless: safe to retry
                        self._json("activity", lambda: self._assoc.create_default(obj, "contacts", {"inputs": pairs},
                                                                                  **self._opts()))
                    except Rejected as exc:
                        result.skipped.extend(self._skip(a, exc.code, "association to the contact: " + exc.message)
                                              for a, _res in ok if a.record)
                result.activities.extend(
                    CreatedActivity(self.crm, obj, str(res["id"]), a.record, a.email, a.external_id,
                                    bool(res.get("new", True)), a.play, a.node, a.event) for a, res in ok)

            try:
                self._passes(todo, run, result, "the record stayed locked")
            except Stop as stop:
                result.stopped = stop.stopped
                for later in order[pos + 1:]:
                    result.pending.extend(a for a in activities if a.object == later)
                return result
        return result
