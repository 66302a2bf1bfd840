"""The event ingest endpoint of `plays serve`: ``POST /events`` (one event or a JSON list).

Checks, in order, before anything is stored:

- size: a body over `max_bytes` (or a list over `max_events` events) -> 413; no length -> 411;
- signature: ``X-Plays-Timestamp`` (unix seconds) and ``X-Plays-Signature: sha256=<hex>``, the
  HMAC-SHA256 with the shared secret of ``<timestamp>.<body>``; missing, wrong, outside the time
  window, or a request already seen within the window (a replay) -> 401;
- structure: not JSON, or any event structurally broken (`engine.evaluate.events.parse_event` errors) -> 422
  with every reason; an unknown status or classification is accepted and logged (D-VOC-2).

Then all events of the request are stored in one transaction (idempotent by id) and `on_stored` is
called with the newly stored ones (the runtime emits Prefect events from there): 202
``{"stored": n, "duplicates": m}``. ``GET /health`` answers 200. stdlib `http.server`, one thread
per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from engine.evaluate.events import parse_event
from engine.store import Store

log = logging.getLogger("plays.ingest")

SECRET_ENV = "PLAYS_INGEST_SECRET"
SIGNATURE_HEADER = "X-Plays-Signature"
TIMESTAMP_HEADER = "X-Plays-Timestamp"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_EVENTS = 10_000
DEFAULT_WINDOW = 300  # seconds a signed request stays valid


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with the shared secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender adds to a request (what `plays ingest` and the tests do)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: signature(secret, body, ts)}


class _SeenSignatures:
    """Signatures accepted within the time window: a second request with one is a replay."""

    def __init__(self, window: int, limit: int = 200_000):
        self.window, self.limit = window, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, sig: str, now: float) -> bool:
        """Remember `sig`; False when it was already seen (a replay)."""
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now - 2 * self.window
                                  or len(self._seen) > self.limit):
                self._seen.popitem(last=False)
            if sig in self._seen:
                return False
            self._seen[sig] = now
            return True


@dataclass
class IngestConfig:
    store: Store
    secret: str
    on_stored: Callable[[list[dict]], None] | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_events: int = DEFAULT_MAX_EVENTS
    window: int = DEFAULT_WINDOW
    clock: Callable[[], float] = time.time
    seen: _SeenSignatures = field(init=False)

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError(f"the ingest endpoint needs a shared secret (set {SECRET_ENV})")
        self.seen = _SeenSignatures(self.window)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def handle(config: IngestConfig, headers: Any, body: bytes) -> Answer:
    """The whole decision for one POST body (no HTTP here, so it is easy to reason about)."""
    ts_text = headers.get(TIMESTAMP_HEADER)
    sig = headers.get(SIGNATURE_HEADER)
    if not ts_text or not sig:
        return Answer(401, {"error": "unsigned", "detail": f"send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}"})
    try:
        ts = int(ts_text)
    except ValueError:
        return Answer(401, {"error": "bad_timestamp", "detail": f"{TIMESTAMP_HEADER} must be unix seconds"})
    now = config.clock()
    if abs(now - ts) > config.window:
        return Answer(401, {"error": "stale", "detail": f"timestamp outside the {config.window} s window"})
    if not hmac.compare_digest(signature(config.secret, body, ts), sig.strip()):
        return Answer(401, {"error": "bad_signature", "detail": "HMAC-SHA256 of '<timestamp>.<body>' does not match"})
    if not config.seen.add(sig.strip(), now):
        return Answer(401, {"error": "replayed", "detail": "this signed request was already received"})
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        return Answer(422, {"error": "invalid_json", "detail": str(exc)})
    items = data if isinstance(data, list) else [data]
    if not items:
        return Answer(422, {"error": "empty", "detail": "no events in the body"})
    if len(items) > config.max_events:
        return Answer(413, {"error": "too_many_events", "detail": f"at most {config.max_events} events a request"})
    problems = []
    for i, item in enumerate(items):
        event, diags = parse_event(item, file="<request>", line=i + 1)
        for d in diags:
            entry = {"index": i, "code": d.code, "severity": str(d.severity), "message": d.message,
                     "hint": d.hint}
            if event is None:
                problems.append(entry)
            else:
                log.warning("event %s: %s %s", item.get("id"), d.code, d.message)
    if problems:
        return Answer(422, {"error": "invalid_events", "detail": problems})
    result = config.store.ingest(items, datetime.fromtimestamp(now, UTC))
    if result.stored and config.on_stored is not None:
        new = set(result.new_ids)
        stored = items if not result.duplicates else [e for e in items if str(e["id"]) in new]
        try:
            config.on_stored(stored)
        except Exception:  # noqa: BLE001 - the events are stored; a schedule will pick them up
            log.exception("could not notify the runtime about %d stored events", len(stored))
    return Answer(202, {"stored": result.stored, "duplicates": result.duplicates})


class _Handler(BaseHTTPRequestHandler):
    server_version = "plays-ingest/1"
    config: IngestConfig  # set on the subclass made by `make_server`

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet by default
        log.debug("%s " + fmt, self.address_string(), *args)

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.rstrip("/") == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/events":
            self._reply(404, {"error": "not_found"})
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._reply(411, {"error": "length_required"})
            return
        try:
            size = int(length)
        except ValueError:
            self.close_connection = True
            self._reply(400, {"error": "bad_length"})
            return
        if size > self.config.max_bytes:
            self.close_connection = True  # the body is not read
            self._reply(413, {"error": "too_large", "detail": f"at most {self.config.max_bytes} bytes"})
            return
        body = self.rfile.read(size)
        try:
            answer = handle(self.config, self.headers, body)
        except Exception as exc:  # noqa: BLE001 - a store failure is a 503, never a dropped connection
            log.exception("ingest failed")
            answer = Answer(503, {"error": "unavailable", "detail": str(exc)})
        self._reply(answer.status, answer.body)


class IngestServer:
    """The endpoint on a background thread: ``IngestServer(config, port).start()`` ... ``stop()``."""

    def __init__(self, config: IngestConfig, host: str = "127.0.0.1", port: int = 0):
        handler = type("Handler", (_Handler,), {"config": config})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="plays-ingest", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "IngestServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
