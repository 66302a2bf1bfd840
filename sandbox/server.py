"""The sandbox CRM server: one TLS port on 127.0.0.1 that speaks the Salesforce REST API
(`/services/data/vXX.X/...`), the HubSpot CRM API (`/crm/v3/...`, `/crm/v4/...`) and a small admin
API (`/_sandbox/...`: state, request log, counters, faults), plus the Python handle tests use.

    from sandbox.server import start_sandbox
    h = start_sandbox(seed=None, port=0, db=None, faults=None)
    h.info  # {"salesforce": {"instance_url", "session_id", "ca_file", "version", "login"},
            #  "hubspot": {"host", "access_token", "ca_file"}, "admin": url}

HubSpot shares the Salesforce TLS port: point `hubspot.Client` at `info["hubspot"]["host"]` with
`ssl_ca_cert=ca_file` (see `sandbox.clients`). The CA is a throwaway `trustme` CA written to a
temporary folder that `stop()` removes.

Salesforce logins (`sandbox.sf_login`): `info["salesforce"]["login"]` holds the username,
password, security_token, client_id, client_secret the sandbox accepts and the `domain` that
points simple-salesforce's login URL at it; each login issues a session id the REST API accepts.
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from sandbox import hubspot, salesforce, sf_bulk, sf_login
from sandbox.faults import FaultSpecError, Faults
from sandbox.http import (BadJson, DropConnection, Request, RequestLog, Response, Router,
                          SandboxRequestHandler, TLSThreadingServer)
from sandbox.metadata import API_VERSION, all_hubspot, all_salesforce
from sandbox.sf_records import ACTING_USER
from sandbox.store import SANDBOX_USER_ID, UI_USER_ID, Store

SF_API_LIMIT = 15000
HS_DAILY = 500_000
HS_TEN_SECONDLY = 190
ORG_PREFIX = "00D5g000SANDBOX!"  # session ids start with the org id, as Salesforce's do


def _subrequests(req: Request) -> list[tuple[str, str]]:
    """(method, path) of each subrequest of a Salesforce Composite request, for fault rules."""
    if req.method != "POST" or not req.path.rstrip("/").endswith("/composite"):
        return []
    try:
        body = req.json()
    except BadJson:
        return []
    subs = body.get("compositeRequest") if isinstance(body, dict) else None
    return [(str(s.get("method", "")).upper(), str(s.get("url", "")).split("?")[0])
            for s in subs or [] if isinstance(s, dict)]


class _Cursors(OrderedDict):
    """Open query cursors (locator -> projected rows), the oldest dropped past 500."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > 500:
            self.popitem(last=False)


class SandboxApp:
    """Routes a request to Salesforce, HubSpot or admin handlers, applying auth, faults, the
    request log and the rate-limit headers of each CRM."""

    def __init__(self, store: Store, faults: Faults, session_id: str, access_token: str,
                 page_size: int = salesforce.DEFAULT_PAGE,
                 credentials: sf_login.Credentials | None = None):
        self.store = store
        self.credentials = credentials or sf_login.Credentials()
        self.sessions: set[str] = set()  # session ids issued by logins, accepted as session_id
        self._sessions_lock = threading.Lock()
        self.faults = faults
        self.session_id = session_id
        # a second session: a person editing records in the CRM's own screens (another user)
        self.ui_session_id = ORG_PREFIX + secrets.token_urlsafe(24)
        self.access_token = access_token
        self.page_size = page_size
        self.api_limit = SF_API_LIMIT
        self.hs_daily = HS_DAILY
        self.usage = {"salesforce": 0, "hubspot": 0}  # API calls counted today, per CRM
        self.bulk = sf_bulk.BulkJobs()  # Bulk API 2.0 jobs and the day's Bulk allocations
        self._usage_lock = threading.Lock()
        self._usage_day = time.gmtime().tm_yday
        self.describes = all_salesforce()
        self.hs_props = {obj: {p["name"]: p for p in res["results"]}
                         for obj, res in all_hubspot().items()}
        self.cursors: _Cursors = _Cursors()
        self.log = RequestLog()
        self.stopping = threading.Event()
        self.base_url = ""
        self.info: dict[str, Any] = {}
        self.capture: deque[dict[str, Any]] | None = None  # raw exchanges, when asked for
        self._hs_window: deque[float] = deque()
        self._window_lock = threading.Lock()
        self.sf_router, self.hs_router = Router(), Router()
        salesforce.register(self.sf_router)
        hubspot.register(self.hs_router)

    def issue_session(self) -> str:
        """A new session id for a successful login; the REST API accepts it from now on."""
        sid = ORG_PREFIX + secrets.token_urlsafe(24)
        with self._sessions_lock:
            self.sessions.add(sid)
        return sid

    def count_call(self, crm: str) -> int:
        """Count one API call against `crm`'s daily allowance, as the CRM does: every REST call,
        a whole Composite request once, each Bulk API 2.0 job call once. Logins are not counted."""
        with self._usage_lock:
            today = time.gmtime().tm_yday
            if today != self._usage_day:  # the allowance is daily: a new UTC day starts it afresh
                self._usage_day = today
                self.usage = {"salesforce": 0, "hubspot": 0}
                self.bulk.reset()
            self.usage[crm] += 1
            return self.usage[crm]

    def reset_usage(self) -> None:
        """A new day: both allowances are whole again."""
        with self._usage_lock:
            self.usage = {"salesforce": 0, "hubspot": 0}
            self.bulk.reset()

    def bulk_usage(self, key: str) -> int:
        """The day's Bulk API 2.0 allocations used: "query_jobs", "batches"."""
        return self.bulk.usage[key]

    def reject(self, crm: str, req: Request) -> bool:
        """Whether the `reject` fault turns down the record being written now."""
        hit = self.faults.reject(crm, req.method, req.path)
        if hit:
            req.rejected += 1
        return hit

    # ---- dispatch --------------------------------------------------------------------------
    def handle(self, req: Request, started: float) -> Response:
        if req.path.startswith("/_sandbox"):
            return self._admin(req)
        login = sf_login.kind(req)
        if login is not None:  # no faults, no auth: a login is how a client gets its session
            response = sf_login.answer(self, req, login)
            self._log("salesforce", req, response, None, started)
            return response
        crm = ("salesforce" if req.path.startswith("/services/") else
               "hubspot" if req.path.startswith("/crm/") else None)
        if crm is None:
            return Response(404, {"message": f"no such path {req.path}"})
        fault = self.faults.decide(crm, req.method, req.path, _subrequests(req))
        response: Response | None = None
        if fault == "drop":
            self._log(crm, req, Response(0, route="dropped"), fault, started)
            raise DropConnection()
        if fault == "slow":
            self.stopping.wait(self.faults.slow_seconds)
        elif fault:
            response = self._fault_response(crm, fault)
        if response is None:
            response = self._authorize(crm, req)
        if response is None:
            response = self._route(crm, req, self._user(crm, req))
        self._limit_headers(crm, response)
        self._log(crm, req, response, fault, started)
        if self.capture is not None:
            self.capture.append({
                "crm": crm, "method": req.method, "path": req.path, "query": req.raw_query,
                "headers": dict(req.headers), "body": req.body.decode("utf-8", "replace"),
                "status": response.status, "response_headers": dict(response.headers),
                "response_body": response.encode().decode("utf-8")})
        return response

    def _user(self, crm: str, req: Request) -> str:
        """The user an authorized request acts as (its session's)."""
        token = req.headers.get("authorization", "").partition(" ")[2].strip()
        return UI_USER_ID if crm == "salesforce" and token == self.ui_session_id else SANDBOX_USER_ID

    def _route(self, crm: str, req: Request, user: str = SANDBOX_USER_ID) -> Response:
        router = self.sf_router if crm == "salesforce" else self.hs_router
        handler, params, name, known = router.match(req.method, req.path)
        if handler is None:
            if crm == "salesforce":
                return salesforce.sf_error(405 if known else 404, "METHOD_NOT_ALLOWED" if known
                                           else "NOT_FOUND", "The requested resource does not "
                                           "exist" if not known else f"HTTP Method '{req.method}'"
                                           " not allowed.")
            return hubspot.hs_error(405 if known else 404, "OBJECT_NOT_FOUND" if not known else
                                    "VALIDATION_ERROR", f"Unable to route {req.method} {req.path}")
        acting = ACTING_USER.set(user)
        try:
            with self.store.lock:
                response = handler(self, req, **params)
        except Exception as exc:  # a sandbox bug must reach the client as a 500, not a hang-up
            message = f"sandbox error in {name}: {type(exc).__name__}: {exc}"
            response = (salesforce.sf_error(500, "UNKNOWN_EXCEPTION", message)
                        if crm == "salesforce" else
                        hubspot.hs_error(500, "INTERNAL_ERROR", message))
        finally:
            ACTING_USER.reset(acting)
        response.route = name
        return response

    def _authorize(self, crm: str, req: Request) -> Response | None:
        if req.path.rstrip("/") == "/services/data":
            return None
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        expected = self.session_id if crm == "salesforce" else self.access_token
        if scheme.lower() in ("bearer", "oauth") and (
                token.strip() == expected or (crm == "salesforce" and (
                    token.strip() in self.sessions or token.strip() == self.ui_session_id))):
            return None
        if crm == "salesforce":
            return salesforce.sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return hubspot.hs_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not "
                                "found. This API supports OAuth 2.0 authentication and you can "
                                "find more details at https://developers.hubspot.com/docs/"
                                "methods/auth/oauth-overview")

    def _fault_response(self, crm: str, fault: str) -> Response:
        retry = {"Retry-After": str(self.faults.retry_after)}
        if crm == "salesforce":
            code, status, message, headers = {
                "429": ("REQUEST_LIMIT_EXCEEDED", 429, "ConcurrentPerOrgLongTxn Limit exceeded.",
                        retry),
                "503": ("SERVER_UNAVAILABLE", 503, "Server temporarily unavailable. Retry later.",
                        {}),
                "403": ("REQUEST_LIMIT_EXCEEDED", 403, "TotalRequests Limit exceeded.", {}),
                "expired_session": ("INVALID_SESSION_ID", 401, "Session expired or invalid", {}),
            }[fault]
            response = salesforce.sf_error(status, code, message)
            response.headers.update(headers)
            return response
        if fault == "429":
            body = {"status": "error", "message": "You have reached your ten_secondly_rolling "
                    "limit.", "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                    "policyName": "TEN_SECONDLY_ROLLING", "groupName": "publicapi:sandbox"}
            return Response(429, body, headers={**retry, "X-HubSpot-RateLimit-Remaining": "0"})
        if fault == "503":
            return hubspot.hs_error(503, "SERVICE_UNAVAILABLE", "The service is temporarily "
                                    "unavailable; retry later.")
        if fault == "403":  # the daily allowance: HubSpot answers 429 DAILY (see sandbox.faults)
            body = {"status": "error", "message": "You have reached your daily limit.",
                    "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                    "policyName": "DAILY", "requestId": str(uuid.uuid4())}
            return Response(429, body)
        return hubspot.hs_error(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make "
                                "this call expired 1 minute(s) ago.")

    def _limit_headers(self, crm: str, response: Response) -> None:
        used = self.count_call(crm)
        if crm == "salesforce":
            response.headers.setdefault("Sforce-Limit-Info",
                                        f"api-usage={used}/{self.api_limit}")
            return
        now = time.monotonic()
        with self._window_lock:
            self._hs_window.append(now)
            while self._hs_window and self._hs_window[0] < now - 10:
                self._hs_window.popleft()
            recent = len(self._hs_window)
            second = sum(1 for t in self._hs_window if t >= now - 1)
        for key, value in (("Daily", self.hs_daily),
                           ("Daily-Remaining", max(self.hs_daily - used, 0)),
                           ("Interval-Milliseconds", 10000), ("Max", HS_TEN_SECONDLY),
                           ("Remaining", max(HS_TEN_SECONDLY - recent, 0)),
                           ("Secondly", HS_TEN_SECONDLY // 10),
                           ("Secondly-Remaining", max(HS_TEN_SECONDLY // 10 - second, 0))):
            response.headers.setdefault(f"X-HubSpot-RateLimit-{key}", str(value))

    def _log(self, crm: str, req: Request, response: Response, fault: str | None,
             started: float) -> None:
        self.log.add({"crm": crm, "method": req.method, "path": req.path,
                      "route": response.route, "status": response.status,
                      "records": response.records, "rejected": req.rejected,
                      "fault": fault or ("reject" if req.rejected else None),
                      "ms": round((time.perf_counter() - started) * 1000, 2)})

    # ---- admin -------------------------------------------------------------------------------
    def _admin(self, req: Request) -> Response:
        what = req.path[len("/_sandbox"):].strip("/")
        try:
            body = req.json()
        except BadJson as exc:
            return Response(400, {"error": f"invalid JSON: {exc}"})
        if what == "info" and req.method == "GET":
            return Response(200, self.info)
        if what == "state" and req.method == "GET":
            return Response(200, self.store.state())
        if what == "state" and req.method in ("POST", "PUT"):
            self.load(body or {})
            return Response(204)
        if what == "requests" and req.method == "GET":
            return Response(200, self.log.entries())
        if what == "requests" and req.method == "DELETE":
            self.log.reset()
            self.reset_usage()
            return Response(204)
        if what == "usage" and req.method == "GET":
            return Response(200, self.usage_info())
        if what == "usage" and req.method == "DELETE":
            self.reset_usage()
            return Response(204)
        if what == "usage" and req.method in ("POST", "PUT"):
            self.set_limits(**{k: int(v) for k, v in (body or {}).items()
                               if k in ("salesforce", "hubspot")})
            return Response(200, self.usage_info())
        if what == "counters" and req.method == "GET":
            return Response(200, self.log.counters())
        if what == "faults" and req.method == "GET":
            return Response(200, self.faults.spec())
        if what == "faults" and req.method in ("POST", "PUT"):
            try:
                self.faults.configure(body)
            except (FaultSpecError, TypeError, ValueError) as exc:
                return Response(400, {"error": str(exc)})
            return Response(200, self.faults.spec())
        return Response(404, {"error": f"no admin route {req.method} {req.path}"})

    def usage_info(self) -> dict[str, Any]:
        with self._usage_lock:
            return {"salesforce": {"used": self.usage["salesforce"], "max": self.api_limit},
                    "hubspot": {"used": self.usage["hubspot"], "max": self.hs_daily}}

    def set_limits(self, salesforce: int | None = None, hubspot: int | None = None) -> None:
        if salesforce is not None:
            self.api_limit = max(1, salesforce)
        if hubspot is not None:
            self.hs_daily = max(1, hubspot)

    def load(self, state: dict[str, Any]) -> None:
        with self.store.lock:
            self.store.load(state)
            self.cursors.clear()


class SandboxHandle:
    """A running sandbox: its connection info and the admin operations tests use."""

    def __init__(self, app: SandboxApp, server: TLSThreadingServer, thread: threading.Thread,
                 tmpdir: str):
        self._app, self._server, self._thread, self._tmpdir = app, server, thread, tmpdir
        self.info = app.info
        self.port: int = server.server_address[1]
        self.url: str = app.base_url
        self.ca_file: str = app.info["salesforce"]["ca_file"]

    def state(self) -> dict[str, Any]:
        """Every live record, in the CRM state file format."""
        return self._app.store.state()

    def load(self, state: dict[str, Any]) -> None:
        """Replace all records with `state` (same format)."""
        self._app.load(state)

    def requests(self) -> list[dict[str, Any]]:
        """The request log: crm, method, path, route, status, records, rejected, fault, ms."""
        return self._app.log.entries()

    def counters(self) -> dict[str, Any]:
        """Totals: requests, records, by_crm, by_status, by_route, by_fault."""
        return self._app.log.counters()

    def reset_log(self) -> None:
        """Clear the request log (and the day's API usage with it)."""
        self._app.log.reset()
        self._app.reset_usage()

    def usage(self) -> dict[str, Any]:
        """API calls counted against each CRM's daily allowance: {crm: {"used", "max"}}. Counted
        as the CRMs count: a Composite request is one call, each Bulk API 2.0 job call is one."""
        return self._app.usage_info()

    def reset_usage(self) -> None:
        """Start a new day: the allowances are whole again (the request log is kept)."""
        self._app.reset_usage()

    def set_api_limits(self, salesforce: int | None = None, hubspot: int | None = None) -> None:
        """The daily allowances (defaults: Salesforce 15,000, HubSpot 500,000)."""
        self._app.set_limits(salesforce, hubspot)

    def set_faults(self, spec: dict[str, Any] | str | None) -> None:
        """Replace the fault configuration (see `sandbox.faults`); None or {} clears it."""
        self._app.faults.configure(spec)

    def faults(self) -> dict[str, Any]:
        return self._app.faults.spec()

    def set_capture(self, on: bool, keep: int = 10_000) -> None:
        """Keep (or stop keeping) the raw request and response of every API call, for checks
        such as OpenAPI validation; turning it on clears what was kept."""
        self._app.capture = deque(maxlen=keep) if on else None

    def exchanges(self) -> list[dict[str, Any]]:
        """Captured calls: crm, method, path, query, headers, body, status, response_headers,
        response_body (bodies as text)."""
        return list(self._app.capture or [])

    def set_page_size(self, size: int) -> None:
        """Query page size (default 2000, as Salesforce); `Sforce-Query-Options` overrides."""
        self._app.page_size = max(1, int(size))

    def stop(self) -> None:
        self._app.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._app.store.close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> "SandboxHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_sandbox(seed: dict[str, Any] | None = None, port: int = 0, db: str | None = None,
                  faults: dict[str, Any] | str | None = None, *, session_id: str | None = None,
                  access_token: str | None = None, page_size: int = salesforce.DEFAULT_PAGE,
                  login: dict[str, str] | None = None) -> SandboxHandle:
    """Start the sandbox on 127.0.0.1:`port` (0 = any free port) in a background thread.

    `seed` (CRM state format) replaces the records; without it a `db` file's records are kept.
    `login` overrides the accepted login credentials (keys of `sf_login.Credentials`).
    """
    import trustme

    tmpdir = tempfile.mkdtemp(prefix="plays-sandbox-")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = str(Path(tmpdir) / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    store = Store(db)
    if seed is not None:
        store.load(seed)
    app = SandboxApp(store, Faults(faults),
                     session_id or ORG_PREFIX + secrets.token_urlsafe(24),
                     access_token or "pat-sandbox-" + secrets.token_hex(16), page_size,
                     sf_login.Credentials(**(login or {})))
    server = TLSThreadingServer(("127.0.0.1", port), SandboxRequestHandler, context, app)
    base = f"https://127.0.0.1:{server.server_address[1]}"
    app.base_url = base
    app.info.update({
        "salesforce": {"instance_url": base, "session_id": app.session_id, "ca_file": ca_file,
                       "ui_session_id": app.ui_session_id,
                       "version": API_VERSION,
                       "login": app.credentials.info(server.server_address[1])},
        "hubspot": {"host": base, "access_token": app.access_token, "ca_file": ca_file},
        "admin": base + "/_sandbox",
    })
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="plays-sandbox", daemon=True)
    thread.start()
    return SandboxHandle(app, server, thread, tmpdir)
