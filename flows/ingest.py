"""The event ingest endpoint of `plays serve`: ``POST /events`` (one event or a JSON list), served by
uvicorn + Starlette (both come with Prefect) on a background thread.

Checks, in order, before anything is stored (D-OPS-1); every refusal is a 4xx with a JSON reason:

- connection: more than `max_connections` open connections -> 429 and closed; a client that has
  not sent its request headers within `header_timeout` seconds -> 408 and closed; headers over
  16 KiB -> 400 (h11 refuses them);
- length, before a byte of the body is read: ``Transfer-Encoding`` or no ``Content-Length`` -> 411;
  a length that is not a number, or negative -> 400; over `max_bytes` -> 413; a body not complete
  within `body_timeout` seconds -> 408;
- signature: ``X-Plays-Timestamp`` (unix seconds) and ``X-Plays-Signature: sha256=<hex>``, the
  HMAC-SHA256 with the shared secret (at least 32 bytes) of ``<timestamp>.<body>``; missing, wrong
  or outside the time window -> 401;
- structure: not JSON, or any event broken (`engine.evaluate.events.parse_event`, or over the sizes
  and characters of ``event.schema.json`` the store holds) -> 422 naming each bad event (its index
  and id) and why; an unknown status or classification is accepted and logged (D-VOC-2); more than
  `max_events` events -> 413.

Then the request's events and its signature are stored in one transaction (idempotent by id): a
signature counts as used only once its events are committed, so a sender may retry after any
failure, and the replay check holds across ingest processes and restarts (it lives in the store).
A signature already stored -> 401 ``replayed``. `on_stored` is then called with the newly stored
events (the runtime emits Prefect events from there): 202 ``{"stored": n, "duplicates": m}``. A
store failure is a 503 without detail (logged here; no SQL goes out). ``GET /health`` answers 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Callable

from engine.evaluate.events import parse_event
from engine.store import EventRejected, Replayed, Store

log = logging.getLogger("plays.ingest")

SECRET_ENV = "PLAYS_INGEST_SECRET"
SIGNATURE_HEADER = "X-Plays-Signature"
TIMESTAMP_HEADER = "X-Plays-Timestamp"
MIN_SECRET_BYTES = 32
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_EVENTS = 10_000
DEFAULT_WINDOW = 300  # seconds a signed request stays valid
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 256
MAX_HEADER_BYTES = 16 * 1024


def check_secret(secret: str | None) -> str | None:
    """Why `secret` cannot sign ingest requests (None: it can)."""
    if not secret:
        return f"the ingest endpoint needs a shared secret (set {SECRET_ENV})"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return (f"{SECRET_ENV} is {len(secret.encode())} bytes long; use at least {MIN_SECRET_BYTES} random bytes "
                f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return None


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with the shared secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender adds to a request (what `plays ingest` and the tests do)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: signature(secret, body, ts)}


@dataclass
class IngestConfig:
    store: Store
    secret: str
    on_stored: Callable[[list[dict]], None] | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_events: int = DEFAULT_MAX_EVENTS
    window: int = DEFAULT_WINDOW
    clock: Callable[[], float] = time.time
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        problem = check_secret(self.secret)
        if problem:
            raise ValueError(problem)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _limits(item: Any) -> list[str]:
    """Sizes and characters of the event schema (what every store holds), as messages."""
    from engine.language.schema_check import validator

    v = validator("event")
    if v is None or not isinstance(item, dict):
        return []
    out = []
    for err in v.iter_errors(item):
        if err.validator in ("maxLength", "pattern") and isinstance(err.instance, str):
            where = ".".join(str(p) for p in err.absolute_path) or "event"
            if err.validator == "maxLength":
                out.append(f"{where} is {len(err.instance)} characters long (at most {err.validator_value})")
            elif "\x00" in err.instance:
                out.append(f"{where} holds a NUL character")
    return out


def _shown(item: Any) -> str | None:
    eid = item.get("id") if isinstance(item, dict) else None
    if not isinstance(eid, str):
        return None
    return (eid[:40] + ("..." if len(eid) > 40 else "")).replace("\x00", "\\u0000")


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
    sig = sig.strip()
    if not hmac.compare_digest(signature(config.secret, body, ts), sig):
        return Answer(401, {"error": "bad_signature", "detail": "HMAC-SHA256 of '<timestamp>.<body>' does not match"})
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
            entry = {"index": i, "id": _shown(item), "code": d.code, "severity": str(d.severity),
                     "message": d.message, "hint": d.hint}
            if event is None:
                problems.append(entry)
            else:
                log.warning("event %s: %s %s", _shown(item), d.code, d.message)
        for message in _limits(item):
            problems.append({"index": i, "id": _shown(item), "code": "EVENT004", "severity": "error",
                             "message": message, "hint": "ids up to 255 characters, emails up to 320, no NUL"})
    if problems:
        return Answer(422, {"error": "invalid_events", "detail": problems})
    when = datetime.fromtimestamp(now, UTC)
    try:
        result = config.store.ingest(items, when, signature=sig,
                                     forget_before=when - timedelta(seconds=2 * config.window))
    except Replayed:
        return Answer(401, {"error": "replayed", "detail": "this signed request was already received"})
    except EventRejected as exc:
        return Answer(422, {"error": "invalid_events", "detail": [
            {"index": i, "id": eid, "code": "EVENT004", "severity": "error", "message": reason, "hint": None}
            for i, eid, reason in exc.problems]})
    if result.stored and config.on_stored is not None:
        new = set(result.new_ids)
        stored = items if not result.duplicates else [e for e in items if str(e["id"]) in new]
        try:
            config.on_stored(stored)
        except Exception:  # noqa: BLE001 - the events are stored; a schedule will pick them up
            log.exception("could not notify the runtime about %d stored events", len(stored))
    return Answer(202, {"stored": result.stored, "duplicates": result.duplicates})


from flows.ingest_http import IngestServer, make_app  # noqa: E402 - the HTTP side, below the decision

__all__ = ["Answer", "IngestConfig", "IngestServer", "SECRET_ENV", "SIGNATURE_HEADER", "TIMESTAMP_HEADER",
           "check_secret", "handle", "make_app", "signature", "signed_headers"]
