"""D-OPS-1 the ingest endpoint as an attacker and a careless sender meet it, each defect of issue 13
reproduced over real sockets against the real server (uvicorn + Starlette) and real stores:

- a negative, malformed, missing or oversize Content-Length is refused before a byte of the body
  is read (the old server read a negative length until the client closed, growing without bound);
- 300 half-sent requests are not held open: past the connection limit each gets 429, the rest are
  timed out (408) and closed, and a real sender still gets through;
- a 300-character id, a 400-character email or a NUL character is a 422 naming the event, the same
  on SQLite and PostgreSQL (it was a 503 with the SQL statement on PostgreSQL), and nothing is stored;
- a request that failed because the store was down can be retried (it was refused as "replayed");
  the replay check holds across two ingest servers on one store and across a restart."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
import requests
from sqlalchemy import text

from engine.store import Store
from flows.ingest import IngestConfig, IngestServer, signed_headers

pytest.register_assert_rewrite("tests.integration.store_fixtures")
from tests.integration.store_fixtures import PG_URL, ensure_pg_database, new_schema  # noqa: E402
from waiting import wait_for

pytest_plugins = ["tests.integration.store_fixtures"]

SECRET = "hardening-secret-0123456789abcdef0123456789"


def event(i: int | str, **contact) -> dict:
    return {"id": f"evt-{i}", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
            "contact": {"email": f"p{i}@acme.io", **contact}, "to": "Completed: Replied"}


def serve(store: Store, **kw) -> IngestServer:
    return IngestServer(IngestConfig(store=store, secret=SECRET, max_bytes=64_000, max_events=100, **kw)).start()


def post(url: str, payload, headers=None) -> requests.Response:
    body = json.dumps(payload).encode()
    return requests.post(url + "/events", data=body, headers=headers or signed_headers(SECRET, body), timeout=20)


def raw(url: str, head: str, *, body: bytes = b"", timeout: float = 10.0) -> tuple[int, dict]:
    """Send `head` (and `body`) on a fresh socket; the status and JSON body of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"{}")


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'ingest.db'}")
    yield s
    s.close()


@pytest.mark.parametrize("length, status, error", [("-1", 400, "bad_request"), ("-99999999", 400, "bad_request"),
                                                   ("12abc", 400, "bad_request"), (None, 411, "length_required"),
                                                   ("100000000", 413, "too_large")])
def test_bad_lengths_are_refused_before_the_body_is_read(sqlite_store, length, status: int, error: str) -> None:
    server = serve(sqlite_store)
    try:
        head = "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += (f"Content-Length: {length}\r\n" if length is not None else "") + "\r\n"
        # no body is sent: the answer must come without waiting for one
        got, body = raw(server.url, head)
        assert (got, body["error"]) == (status, error) and body["detail"]
        chunked = "POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        assert raw(server.url, chunked)[0] == 411
        assert sqlite_store.event_count() == 0
    finally:
        server.stop()


def test_a_slow_body_is_timed_out(sqlite_store) -> None:
    server = serve(sqlite_store, body_timeout=1.0)
    try:
        head = "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
        assert raw(server.url, head, body=b'{"id": ')[0] == 408
    finally:
        server.stop()


def test_300_half_sent_requests_are_limited_timed_out_and_closed(sqlite_store) -> None:
    server = serve(sqlite_store, header_timeout=1.0, max_connections=50)
    held: list[socket.socket] = []
    try:
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(300):
            s = socket.create_connection((host, int(port)), timeout=20)
            s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Le")  # and never the rest
            held.append(s)
        answers = []
        for s in held:  # every one is answered (429 over the limit, else 408) and closed by the server
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:  # closed before our half request was read: refused all the same
                data = data or b"HTTP/1.1 reset"
            answers.append(data.split(b" ", 2)[1].decode() if data else None)
        assert None not in answers and set(answers) <= {"408", "429", "reset"}, set(answers)
        assert answers.count("408") >= 1 and len(answers) - answers.count("408") >= 200
        wait_for(lambda: len(server.server.server_state.connections) == 0, 10, what="every connection closed")
        assert post(server.url, event(1)).status_code == 202  # a real sender gets through
    finally:
        for s in held:
            s.close()
        server.stop()


@pytest.mark.parametrize("bad, where", [
    ({"id": "x" * 300}, "id"), ({"contact": {"email": "a" * 390 + "@acme.io"}}, "contact.email"),
    ({"id": "nul\x00id"}, "id"), ({"contact": {"email": "p@acme.io", "firstName": "A\x00"}}, "contact.firstName"),
    ({"contact": {"email": "p@acme.io", "nick\x00": "x"}}, "NUL"),
])
def test_oversize_and_nul_fields_are_422_naming_the_event_on_every_store(any_store, bad: dict, where: str) -> None:
    server = serve(any_store)
    try:
        r = post(server.url, [event(1), {**event(2), **bad}])
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "invalid_events" and [p["index"] for p in body["detail"]] == [1]
        assert where in body["detail"][0]["message"] or where in r.text
        for word in ("INSERT", "SELECT", "plays_store", "psycopg", "sqlalchemy"):
            assert word not in r.text
        assert any_store.event_count() == 0
        # the store refuses the same events itself, whoever calls it (plays ingest, plays run)
        from engine.store import EventRejected
        with pytest.raises(EventRejected):
            any_store.ingest([event(1), {**event(2), **bad}], __import__("datetime").datetime.now())
        assert any_store.event_count() == 0
    finally:
        server.stop()


@pytest.mark.postgres
def test_a_request_that_failed_on_a_store_outage_can_be_retried() -> None:
    ensure_pg_database()
    schema = new_schema()
    store = Store(PG_URL, schema=schema)
    server = serve(store)
    try:
        payload = [event(1), event(2)]
        body = json.dumps(payload).encode()
        headers = signed_headers(SECRET, body)
        with store.engine.begin() as conn:
            conn.execute(text(f'ALTER TABLE "{schema}".events RENAME TO events_away'))
        down = requests.post(server.url + "/events", data=body, headers=headers, timeout=20)
        assert down.status_code == 503 and "events_away" not in down.text and "SELECT" not in down.text
        assert schema not in down.text and "INSERT" not in down.text
        with store.engine.begin() as conn:
            conn.execute(text(f'ALTER TABLE "{schema}".events_away RENAME TO events'))
        again = requests.post(server.url + "/events", data=body, headers=headers, timeout=20)
        assert again.status_code == 202 and again.json()["stored"] == 2
        third = requests.post(server.url + "/events", data=body, headers=headers, timeout=20)
        assert third.status_code == 401 and third.json()["error"] == "replayed"
    finally:
        server.stop()
        store.drop()
        store.close()


def test_replays_are_refused_across_instances_and_restarts(store_target) -> None:
    url, schema = store_target
    a_store, b_store = Store(url, schema=schema), Store(url, schema=schema)
    a, b = serve(a_store), serve(b_store)
    try:
        body = json.dumps(event(uuid.uuid4().hex)).encode()
        headers = signed_headers(SECRET, body)
        assert requests.post(a.url + "/events", data=body, headers=headers, timeout=20).status_code == 202
        other = requests.post(b.url + "/events", data=body, headers=headers, timeout=20)
        assert other.status_code == 401 and other.json()["error"] == "replayed"
        a.stop()
        restarted = serve(a_store)
        try:
            later = requests.post(restarted.url + "/events", data=body, headers=headers, timeout=20)
            assert later.status_code == 401 and later.json()["error"] == "replayed"
        finally:
            restarted.stop()
        assert a_store.event_count() == 1
    finally:
        a.stop()
        b.stop()
        a_store.close()
        b_store.close()


def test_short_ingest_secrets_are_refused(sqlite_store) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        IngestConfig(store=sqlite_store, secret="s3cret")
