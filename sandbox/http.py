"""HTTP plumbing of the sandbox: request/response values, a small regex router, the request log
and counters, and a TLS `ThreadingHTTPServer` whose handshakes run in the worker threads.

Route handlers are plain functions `handler(app, request, **path_params) -> Response`; they never
touch sockets, so the Salesforce and HubSpot modules stay about the wire *format* only.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit


class BadJson(Exception):
    """The request body is not valid JSON."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]      # lower-cased names
    body: bytes = b""
    rejected: int = 0            # records turned down by the `reject` fault
    raw_query: str = ""

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJson(str(exc)) from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """A repeated or comma-separated query parameter, flattened."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    records: int = 0          # records written or returned, for the log
    route: str = ""

    def encode(self) -> bytes:
        """The body as sent: bytes as they are (with their own Content-Type header), else JSON."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


Handler = Callable[..., Response]


class Abort(Exception):
    """Raised inside a handler to answer with `response` (an error in the CRM's own format) at once."""

    def __init__(self, response: Response):
        self.response = response


def guarded(handler: Handler) -> Handler:
    """The handler, with an `Abort` raised inside it turned into its response."""
    def run(app: Any, req: Request, **params: str) -> Response:
        try:
            return handler(app, req, **params)
        except Abort as abort:
            return abort.response
    return run


class Router:
    """Maps (method, path regex) to a handler and a route name for the counters."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler, str]] = []

    def add(self, method: str, pattern: str, handler: Handler, name: str) -> None:
        self._routes.append((method, re.compile("^" + pattern + "$"), handler, name))

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], str, bool]:
        """(handler, params, name, path_known); path_known says the path exists for some method."""
        known = False
        for route_method, rx, handler, name in self._routes:
            m = rx.match(path)
            if m:
                known = True
                if route_method == method:
                    return handler, {k: unquote(v) for k, v in m.groupdict().items()}, name, True
        return None, {}, "", known


class RequestLog:
    """Every API call the sandbox answered: method, path, records, status, fault, route."""

    def __init__(self, maxlen: int = 200_000):
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._counters: dict[str, Counter[str]] = {}
        self._seq = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counters = {k: Counter() for k in ("crm", "status", "route", "fault")}
            self._totals: Counter[str] = Counter()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            self._totals["requests"] += 1
            self._totals["records"] += entry.get("records", 0)
            self._counters["crm"][entry["crm"]] += 1
            self._counters["status"][str(entry["status"])] += 1
            if entry.get("route"):
                self._counters["route"][entry["route"]] += 1
            if entry.get("fault"):
                self._counters["fault"][entry["fault"]] += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def counters(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"requests": self._totals["requests"],
                                   "records": self._totals["records"]}
            for key, counter in self._counters.items():
                out["by_" + key] = dict(counter)
            return out

    def count(self) -> int:
        with self._lock:
            return self._totals["requests"]


class DropConnection(Exception):
    """Raised by the app to close the connection without answering (the `drop` fault)."""


class TLSThreadingServer(ThreadingHTTPServer):
    """Threaded HTTP server that wraps each accepted socket in TLS inside its worker thread,
    so a slow or broken handshake never blocks `accept`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext | None, app: Any):
        super().__init__(address, handler)
        self.context = context
        self.app = app

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is not None:
            try:
                request.settimeout(30)
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.context is not None:
                try:
                    request.close()
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that vanish mid-request are normal under the drop / slow faults


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Reads one request, lets `server.app.handle(request)` answer it, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "PlaysSandbox/1.0"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _dispatch(self) -> None:
        started = time.perf_counter()
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body,
                          raw_query=parts.query)
        try:
            response = self.server.app.handle(request, started)  # type: ignore[attr-defined]
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        payload = response.encode()
        self.send_response(response.status)
        if response.body is not None and "Content-Type" not in response.headers:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch
