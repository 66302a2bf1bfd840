"""The HTTP side of the ingest endpoint (`flows.ingest` holds the decision): a Starlette app on
uvicorn, with what a production server needs in front of a store (D-OPS-1).

- `GuardedH11` is uvicorn's h11 protocol with a connection limit (the connection over
  `max_connections` gets 429 and is closed), a header timeout (a connection that has not completed
  its request headers within `header_timeout` seconds — at first or between keep-alive requests —
  gets 408 and is closed), and JSON reasons for requests h11 refuses (a negative or malformed
  ``Content-Length``, headers over 16 KiB).
- the app checks ``Content-Length`` before reading anything, reads the body within `body_timeout`,
  then runs `flows.ingest.handle` in a worker thread (the store is synchronous).

`IngestServer(config, host, port).start()` serves on a background thread; `stop()` ends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from typing import Any

log = logging.getLogger("plays.ingest")


def _json_response(status: int, body: dict, *, close: bool = False):
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers={"Connection": "close"} if close else None)


def make_app(config: Any):
    """The Starlette app: ``POST /events`` and ``GET /health``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.routing import Route

    from flows.ingest import handle

    async def health(_request: Request):
        return _json_response(200, {"status": "ok"})

    async def events(request: Request):
        if request.headers.get("transfer-encoding"):
            return _json_response(411, {"error": "length_required",
                                        "detail": "send the body with a Content-Length, not chunked"}, close=True)
        length = request.headers.get("content-length")
        if length is None:
            return _json_response(411, {"error": "length_required", "detail": "send a Content-Length"}, close=True)
        if not length.strip().isdigit():
            return _json_response(400, {"error": "bad_length", "detail": "Content-Length must be a number >= 0"},
                                  close=True)
        size = int(length)
        if size > config.max_bytes:
            return _json_response(413, {"error": "too_large", "detail": f"at most {config.max_bytes} bytes"},
                                  close=True)
        body = bytearray()
        try:
            async with asyncio.timeout(config.body_timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > size:
                        return _json_response(400, {"error": "bad_length",
                                                    "detail": "the body is longer than its Content-Length"},
                                              close=True)
        except TimeoutError:
            return _json_response(408, {"error": "body_timeout",
                                        "detail": f"the body did not arrive within {config.body_timeout:g} s"},
                                  close=True)
        if len(body) < size:
            return _json_response(400, {"error": "incomplete_body", "detail": "the body ended early"}, close=True)
        try:
            answer = await run_in_threadpool(handle, config, request.headers, bytes(body))
        except Exception:  # noqa: BLE001 - a store failure is a 503; its text (SQL) stays in the log
            log.exception("ingest failed")
            return _json_response(503, {"error": "unavailable", "detail": "the event store is unavailable; retry "
                                        "the same request later"})
        return _json_response(answer.status, answer.body)

    async def not_found(request: Request, _exc: Exception):
        return _json_response(404, {"error": "not_found", "detail": f"{request.method} {request.url.path}"})

    async def not_allowed(request: Request, _exc: Exception):
        return _json_response(405, {"error": "method_not_allowed", "detail": "POST /events, GET /health"})

    return Starlette(routes=[Route("/events", events, methods=["POST"]), Route("/events/", events, methods=["POST"]),
                             Route("/health", health, methods=["GET"])],
                     exception_handlers={404: not_found, 405: not_allowed})


def _raw(status: int, reason: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"connection: close\r\n\r\n").encode() + data


def guarded_protocol(config: Any):
    """uvicorn's h11 protocol with a connection limit, a header timeout and JSON refusals."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > config.max_connections:
                transport.write(_raw(429, "Too Many Requests", {
                    "error": "too_many_connections", "detail": f"at most {config.max_connections} connections"}))
                transport.close()
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _waiting_for_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self.transport is None or self.transport.is_closing():
                self._disarm()
            elif not self._waiting_for_headers():
                self._disarm()
            elif self._header_timer is None:
                self._header_timer = self.loop.call_later(config.header_timeout, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self._waiting_for_headers() and not self.transport.is_closing():
                self.transport.write(_raw(408, "Request Timeout", {
                    "error": "header_timeout",
                    "detail": f"request headers not complete within {config.header_timeout:g} s"}))
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            self.transport.write(_raw(400, "Bad Request", {
                "error": "bad_request", "detail": f"{msg} (a Content-Length must be a number >= 0; headers "
                                                  f"at most 16 KiB)"}))
            self.transport.close()

    return GuardedH11


class IngestServer:
    """The endpoint on a background thread: ``IngestServer(config, port).start()`` ... ``stop()``."""

    def __init__(self, config: Any, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.config = config
        # bind here, so a port in use is an OSError at once (and port 0 gets its number now)
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(min(config.max_connections, 1024))
        self.sock.setblocking(False)
        self.server = uvicorn.Server(uvicorn.Config(
            make_app(config), http=guarded_protocol(config), lifespan="off", access_log=False, log_level="warning",
            timeout_keep_alive=5, h11_max_incomplete_event_size=16 * 1024, server_header=False,
            timeout_graceful_shutdown=3))
        self.thread = threading.Thread(target=self._run, name="plays-ingest", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def start(self) -> "IngestServer":
        self.thread.start()
        deadline = threading.Event()
        for _ in range(200):  # up to ~10 s for the loop to start serving
            if self.server.started or not self.thread.is_alive():
                break
            deadline.wait(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        try:
            self.sock.close()
        except OSError:
            pass
