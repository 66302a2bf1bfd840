"""The ingest endpoint over real HTTP: signed events are stored once; unsigned, badly signed, stale
or replayed requests are 401, oversized ones 413, structurally broken ones 422 with the reason —
and in every refused case nothing is stored and nobody is notified."""

from __future__ import annotations

import json
import time

import pytest
import requests

from engine.store import Store
from flows.ingest import IngestConfig, IngestServer, signed_headers

SECRET = "test-secret-0123456789abcdef0123456789"


def event(i: int, **extra) -> dict:
    return {"id": f"evt-{i}", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
            "contact": {"email": f"p{i}@acme.io"}, "to": "Completed: Replied", **extra}


@pytest.fixture
def endpoint(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'ingest.db'}")
    notified: list[list[dict]] = []
    server = IngestServer(IngestConfig(store=store, secret=SECRET, on_stored=notified.append, max_bytes=64_000,
                                       max_events=100)).start()
    yield server.url + "/events", store, notified
    server.stop()
    store.close()


def post(url: str, payload, *, secret: str = SECRET, timestamp: int | None = None, headers=None):
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    h = signed_headers(secret, body, timestamp) if headers is None else headers
    return requests.post(url, data=body, headers=h, timeout=10)


def test_signed_event_and_list_are_stored_once(endpoint) -> None:
    url, store, notified = endpoint
    r = post(url, event(1))
    assert r.status_code == 202 and r.json() == {"stored": 1, "duplicates": 0}
    r = post(url, [event(1), event(2), event(3)])
    assert r.status_code == 202 and r.json() == {"stored": 2, "duplicates": 1}
    assert store.event_count() == 3
    assert [[e["id"] for e in batch] for batch in notified] == [["evt-1"], ["evt-2", "evt-3"]]
    assert requests.get(url.replace("/events", "/health"), timeout=5).json() == {"status": "ok"}


def test_unknown_classification_is_accepted(endpoint) -> None:
    url, store, _ = endpoint
    r = post(url, event(9, reply={"classification": "Willing To Meet"}))
    assert r.status_code == 202 and store.has_event("evt-9")


@pytest.mark.parametrize("case", ["unsigned", "bad_signature", "wrong_secret", "stale", "future", "body_swapped"])
def test_refused_signatures_are_401_and_store_nothing(endpoint, case: str) -> None:
    url, store, notified = endpoint
    body = json.dumps(event(1)).encode()
    now = int(time.time())
    headers = {
        "unsigned": {"Content-Type": "application/json"},
        "bad_signature": {**signed_headers(SECRET, body), "X-Plays-Signature": "sha256=" + "0" * 64},
        "wrong_secret": signed_headers("not-the-secret", body),
        "stale": signed_headers(SECRET, body, now - 3600),
        "future": signed_headers(SECRET, body, now + 3600),
        "body_swapped": signed_headers(SECRET, json.dumps(event(2)).encode()),
    }[case]
    r = post(url, body, headers=headers)
    assert r.status_code == 401, r.text
    assert store.event_count() == 0 and notified == []


def test_replayed_request_is_401(endpoint) -> None:
    url, store, _ = endpoint
    body = json.dumps(event(1)).encode()
    headers = signed_headers(SECRET, body)
    assert post(url, body, headers=headers).status_code == 202
    again = post(url, body, headers=headers)
    assert again.status_code == 401 and again.json()["error"] == "replayed"
    assert store.event_count() == 1


def test_too_large_is_413(endpoint) -> None:
    url, store, _ = endpoint
    big = [event(i, sequence="x" * 1000) for i in range(80)]  # > 64 kB
    assert post(url, big).status_code == 413
    many = [event(i) for i in range(101)]  # > 100 events, under the byte limit
    assert post(url, many).status_code == 413
    assert store.event_count() == 0


@pytest.mark.parametrize("payload, code", [
    (b"{not json", "invalid_json"),
    ([], "empty"),
    ({"id": "e1", "type": "email_opened"}, "EVENT003"),                      # no `at`
    ({"id": "e1", "type": "email_exploded", "at": "2026-11-20T10:00:00Z"}, "EVENT006"),
    ({"id": 5, "type": "email_opened", "at": "2026-11-20T10:00:00Z"}, "EVENT004"),
    ({"id": "e1", "type": "email_opened", "at": "yesterday"}, "EVENT005"),
])
def test_broken_events_are_422_with_reason(endpoint, payload, code: str) -> None:
    url, store, _ = endpoint
    r = post(url, payload)
    assert r.status_code == 422
    body = r.json()
    found = [p["code"] for p in body["detail"]] if isinstance(body["detail"], list) else [body["error"]]
    assert code in found
    assert store.event_count() == 0


def test_one_broken_event_refuses_the_whole_request(endpoint) -> None:
    url, store, _ = endpoint
    r = post(url, [event(1), {"id": "x", "type": "email_opened"}])
    assert r.status_code == 422 and r.json()["detail"][0]["index"] == 1
    assert store.event_count() == 0
