"""The Salesforce connector (simple-salesforce): reads, writes and activities each by the cheapest
path for the batch's size (D-RUN-5: `sf_paths` Composite requests, `sf_bulk` Bulk API 2.0 jobs,
`sf_activities`; allOrNone false, per-record errors mapped to skipped records), idempotent
EmailMessage / Task creates by upsert on `Unify_Event_Id__c` (+ EmailMessageRelation,
read-before-retry), incremental pull by `SystemModstamp`, describe -> metadata snapshot.

Every HTTP call goes through `retry.Caller`; a response hook on the `requests` session feeds the
rate gate (`Sforce-Limit-Info`) and keeps the last answer's headers for `Retry-After`.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote_plus

import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from engine.connectors import auth
from engine.connectors.base import (ActivityCreate, Clock, ConnectionProblem, ConnectorPlumbing, Sent, Pull,
                                    RecordWrite, SyncStopped, Written, json_value, norm_email, system_clock)
from engine.connectors.retry import Rejected, RetryPolicy, Stop, Transient, parse_retry_after
from engine.connectors.sf_activities import EXTERNAL_ID  # noqa: F401 - the external id, named once
from engine.connectors.sf_paths import RECORD_TRANSIENT, first_error  # noqa: F401 - busy-row errors, named once

API_VERSION = "59.0"
CHUNK = 200                     # composite/sobjects limit
MAX_QUERY_URL = 15_000          # characters of an encoded SOQL query in a GET URL (limit ~16K)
PERSON_OBJECTS = ("Lead", "Contact")
_SKIP_TYPES = frozenset({"address", "location", "base64", "complexvalue"})


def soql_datetime(value: str) -> str:
    """A SystemModstamp as Salesforce returns it (``...000+0000``) as a SOQL literal (``...000Z``)."""
    text = value.strip()
    if text.endswith("+0000"):
        return text[:-5] + "Z"
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return text


class TimeoutSession(requests.Session):
    """A `requests` session whose every request has a timeout unless the caller gives one:
    simple-salesforce's logins (SOAP and OAuth) pass none, and a login must not hang a run."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class SalesforceConnector(ConnectorPlumbing):
    """`Connector` for one Salesforce org."""

    crm = "salesforce"
    person_objects = PERSON_OBJECTS

    def __init__(self, sf: Salesforce, *, policy: RetryPolicy | None = None, clock: Clock = system_clock):
        super().__init__(policy=policy, clock=clock)
        self.sf = sf
        self._local = threading.local()
        self._describes: dict[str, dict[str, Any]] = {}
        sf.session.hooks.setdefault("response", []).append(self._on_response)

    # ---- connecting ----------------------------------------------------------------------------
    @classmethod
    def connect(cls, values: Mapping[str, Any], *, settings: Any = None, session: requests.Session | None = None,
                ca_file: str | None = None, policy: RetryPolicy | None = None,
                clock: Clock = system_clock) -> "SalesforceConnector | ConnectionProblem":
        method = auth.salesforce_method(values)
        if isinstance(method, ConnectionProblem):
            return method
        session = session or TimeoutSession((policy or RetryPolicy()).timeout)
        if ca_file:
            session.verify = ca_file
            session.trust_env = False  # a loopback sandbox must not go through a proxy
        try:
            if method == "session":
                sf = Salesforce(instance_url=values["instance_url"], session_id=values["session_id"],
                                session=session, version=API_VERSION)
            elif method == "password":
                sf = Salesforce(username=values["username"], password=values["password"],
                                security_token=values["security_token"], domain=values.get("domain"),
                                session=session, version=API_VERSION)
            else:
                sf = Salesforce(consumer_key=values["client_id"], consumer_secret=values["client_secret"],
                                domain=values["domain"], session=session, version=API_VERSION)
        except SalesforceAuthenticationFailed as exc:
            return ConnectionProblem("salesforce", auth.AUTH_REFUSED, f"login refused: {exc}",
                                     "check the credentials and that the user may use the API")
        except requests.RequestException as exc:
            return ConnectionProblem("salesforce", auth.UNREACHABLE, f"cannot reach Salesforce: {exc}",
                                     "check the domain / instance_url and the network")
        return cls(sf, policy=policy, clock=clock)

    # ---- plumbing ------------------------------------------------------------------------------
    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.headers = response.headers
        self.caller.gate.note(response.headers)

    def _classify(self, exc: BaseException) -> Exception | None:
        if isinstance(exc, requests.ConnectTimeout):
            return Transient(f"connect timeout: {exc}")
        if isinstance(exc, requests.Timeout):
            return Transient(f"timeout: {exc}", unknown_outcome=True)
        if isinstance(exc, requests.ConnectionError):
            return Transient(f"connection lost: {exc}", unknown_outcome=True)
        if isinstance(exc, requests.RequestException):
            return Transient(f"request failed: {exc}", unknown_outcome=True)
        if isinstance(exc, SalesforceError):
            status = exc.status
            code, message = first_error(exc.content)
            if status == 401:
                return Stop(SyncStopped(self.crm, "expired_credentials", f"{code}: {message}",
                                        "renew the session / credentials; unsent writes stay pending"))
            headers = getattr(self._local, "headers", None) or {}
            retry_after = parse_retry_after(headers.get("Retry-After"))
            if status == 429 or (code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" in message.lower()):
                # too many requests at once: wait and retry (the daily limit below is a stop)
                return Transient(f"HTTP {status} {code}: {message}", retry_after=retry_after, status=status)
            if code == "REQUEST_LIMIT_EXCEEDED":
                return Stop(SyncStopped(self.crm, "request_limit_exceeded", message or code,
                                        "the org's API request limit is used up; the sync resumes later"))
            if status in (500, 502, 503, 504):
                return Transient(f"HTTP {status} {code}: {message}", retry_after=retry_after,
                                 unknown_outcome=status != 503, status=status)
            if status == 403:
                return Stop(SyncStopped(self.crm, "permission_denied", f"{code}: {message}",
                                        "the integration user lacks a permission (API access, object or field)"))
            return Rejected(code, message, status)
        return None

    def _timeout(self) -> dict[str, Any]:
        return {"timeout": self.policy.timeout}

    def _query_all(self, soql: str, kind: str = "read") -> list[dict[str, Any]]:
        """Every row of a query (following nextRecordsUrl), each page a retried call."""
        page = self.caller.call(kind, lambda: self.sf.query(soql, **self._timeout()))
        rows = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            url = page["nextRecordsUrl"]
            page = self.caller.call(kind, lambda: self.sf.query_more(url, identifier_is_url=True,
                                                                     **self._timeout()))
            rows.extend(page.get("records") or [])
        for row in rows:
            row.pop("attributes", None)
        return rows

    def describe(self, obj: str) -> dict[str, Any]:
        """The describe result of one sObject (one call per object per connector)."""
        if obj not in self._describes:
            self._describes[obj] = self.caller.call(
                "describe", lambda: self.sf.restful(f"sobjects/{obj}/describe", **self._timeout()))
        return self._describes[obj]

    def field_kinds(self, obj: str) -> dict[str, str]:
        return {f["name"]: f["type"] for f in self.describe(obj)["fields"]}

    def _fields(self, obj: str, wanted: Iterable[str] | None) -> list[str]:
        kinds = self.field_kinds(obj)
        names = [n for n, t in kinds.items() if t not in _SKIP_TYPES] if wanted is None else \
            [n for n in dict.fromkeys(["Id", "Email", "LastModifiedDate", "SystemModstamp", *wanted])
             if n in kinds]
        return names

    def close(self) -> None:
        try:
            self.sf.session.hooks["response"].remove(self._on_response)
        except (KeyError, ValueError):
            pass

    # ---- reads ---------------------------------------------------------------------------------
    def _in_chunks(self, prefix: str, values: Sequence[str]) -> Iterator[str]:
        """`prefix IN (...)` queries of at most CHUNK values and a URL short enough for a GET."""
        budget = MAX_QUERY_URL - len(quote_plus(prefix)) - 10
        chunk: list[str] = []
        used = 0
        for value in values:
            cost = len(quote_plus(format_soql("{}", value))) + 3
            if chunk and (len(chunk) >= CHUNK or used + cost > budget):
                yield prefix + format_soql(" IN {}", chunk)
                chunk, used = [], 0
            chunk.append(value)
            used += cost
        if chunk:
            yield prefix + format_soql(" IN {}", chunk)

    def read_records(self, emails: Iterable[str] = (), ids: Mapping[str, Iterable[str]] | None = None,
                     objects: Iterable[str] | None = None,
                     fields: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Lead / Contact records holding these emails (trimmed, case-insensitive) or these ids.

        One SOQL query per object per 200 emails; values are escaped, so a quote in an email can
        neither break nor widen the query. Raises `Stop` when the sync must stop.
        """
        from engine.connectors import sf_paths  # the cheapest path for the batch's size (D-RUN-5)
        return sf_paths.read_records(self, emails, ids, objects, fields)

    def pull_changes(self, since: Mapping[str, str] | None = None, objects: Iterable[str] | None = None) -> Pull:
        """Records changed after the cursor (per object, by SystemModstamp); the first pull is full.

        Later pulls leave out the records whose last change was this integration user's own (the
        batches know what they wrote, D-RUN-3), so a pull costs what the CRM's other users changed,
        not what plays just wrote; the user's id is asked once (`whoami`) and kept in the cursor
        (`_me`). Every object's first page and fresh describes (D-SY-2: new custom fields) go in
        one Composite request (`sf_paths.pull`): one call when few records changed elsewhere.
        """
        cursor = dict(since or {})
        objs = list(objects or self.person_objects)
        from engine.connectors import sf_paths  # the cheapest path (D-RUN-5)
        try:
            if sf_paths.ME not in cursor:
                cursor[sf_paths.ME] = self.whoami()
            records = sf_paths.pull(self, objs, cursor)
        except (Stop, Rejected) as exc:
            stopped = exc.stopped if isinstance(exc, Stop) else SyncStopped(self.crm, "rejected", str(exc))
            return Pull({}, dict(since or {}), stopped)
        for obj, rows in records.items():
            if rows:
                cursor[obj] = soql_datetime(rows[-1]["SystemModstamp"])
        return Pull(records, cursor)

    def whoami(self) -> str:
        """The integration user's id, from the identity service's userinfo (one call, made once:
        the pull keeps it in its cursor); '' when the session may not ask (the pull then reads
        every change, its own included)."""
        url = self.sf.oauth2_url + "userinfo"
        try:
            info = self.caller.call("pull", lambda: self.sf._call_salesforce(
                "GET", url, name="userinfo", **self._timeout()).json())
        except Rejected:
            return ""
        return str(info.get("user_id") or "") if isinstance(info, dict) else ""

    def read_metadata(self, objects: Iterable[str] = PERSON_OBJECTS) -> dict[str, Any]:
        """`{"Lead": describe, "Contact": describe}`, exactly as the describe calls return them."""
        return {obj: self.describe(obj) for obj in objects}

    # ---- writes --------------------------------------------------------------------------------
    def _payload(self, write: RecordWrite) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": {"type": write.object}}
        if write.op == "update":
            body["Id"] = write.record
        body.update(json_value(dict(write.fields)))
        return body

    def _reconcile_creates(self, chunk: list[RecordWrite], done: dict[int, Written]) -> None:
        """Read-before-retry: which creates of a chunk whose answer was lost did land (by email)."""
        by_obj: dict[str, dict[str, int]] = {}
        for index, write in enumerate(chunk):
            if index not in done and write.email:
                by_obj.setdefault(write.object, {})[write.email] = index
        for obj, emails in by_obj.items():
            for soql in self._in_chunks(f"SELECT Id, Email FROM {obj} WHERE Email", sorted(emails)):
                for row in self._query_all(soql):
                    index = emails.get(norm_email(row.get("Email")) or "")
                    if index is not None and index not in done:
                        w = chunk[index]
                        done[index] = Written(self.crm, w.object, row["Id"], w.email, "create", w.fields,
                                              w.before, w.sources)

    def apply_writes(self, writes: Sequence[RecordWrite]) -> Sent:
        """Updates, then creates, each by its cheapest path (`sf_paths`: Composite requests of five
        collections of 200, or Bulk API 2.0 jobs for large groups).

        A record refused for a busy row is sent again (up to `record_retries` more passes); an
        update refused for named fields is sent again without them (those fields are skipped).
        """
        from engine.connectors import sf_paths  # the cheapest path for the batch's size (D-RUN-5)
        return sf_paths.apply_writes(self, writes, Sent())

    # ---- activities ----------------------------------------------------------------------------
    def create_activities(self, activities: Sequence[ActivityCreate]) -> Sent:
        """EmailMessages (+ relations) and Tasks, upserted on Unify_Event_Id__c by their cheapest path
        (`sf_activities`)."""
        from engine.connectors import sf_activities  # the cheapest path for the batch's size (D-RUN-5)
        return sf_activities.create_activities(self, activities, Sent())
