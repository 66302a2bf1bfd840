"""D-OPS-1/3 fuzz suite, ingest bodies: the ingest endpoint's decision function (`flows.ingest.handle`,
no HTTP server needed) on seeded random bodies, correctly signed so they reach the parsing: random
JSON trees, demo events with one value mutated, deep nesting, huge numbers, lone surrogates, NULs,
bytes that are not UTF-8. Every answer is a 202 or a 4xx with a JSON reason, never an exception and
never a 5xx; a 422 names each bad event with a code. Runs against a real SQLite store.

Skipped where the ingest handler is not there yet (it arrives with the Starlette ingest server).
"""

from __future__ import annotations

import json
import random
import re

import pytest

from tests.fuzz import generators as g

ingest = pytest.importorskip("flows.ingest")
if not hasattr(ingest, "handle"):  # pragma: no cover - before the Starlette ingest server landed
    pytest.skip("flows.ingest.handle is not available yet", allow_module_level=True)

from engine.store import Store  # noqa: E402

SEED = 31_2026
CASES = 300
SECRET = "fuzz-secret-0123456789abcdef0123456789abcdef"
NOW = 1_795_000_000
DEMO_EVENTS = g.load_example(g.PLAYS / "events" / "demo.jsonl")


def _body(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.45:
        events = [g.mutate(rng.choice(DEMO_EVENTS), rng) for _ in range(rng.randrange(1, 4))]
        for i, ev in enumerate(events):
            if isinstance(ev, dict) and rng.random() < 0.7:
                ev["id"] = f"fz-{rng.randrange(10**9)}-{i}"  # mostly new ids, so some get stored
        value = events if rng.random() < 0.7 else events[0]
        return json.dumps(value, ensure_ascii=rng.random() < 0.5, default=str).encode("utf-8", "surrogatepass")
    if r < 0.7:
        return json.dumps(g.tree(rng, max_depth=4), default=str).encode("utf-8", "surrogatepass")
    if r < 0.8:
        return g.deep_text(rng.choice([100, 5000]), rng.choice(["list", "dict"])).encode()
    return rng.choice([b"", b"[]", b"{}", b"null", b"\xff\xfe\x00", b'{"id": "\\ud800"}', b"NaN", b"[" * 10_000,
                       b'{"id": "a\\u0000b", "type": "email_opened", "at": "2026-11-20T10:00:00Z"}',
                       b'{"id": "x", "type": "email_opened", "at": "9999-12-31T23:59:59-14:00"}',
                       json.dumps({"id": "i" * 300, "type": "email_opened", "at": "2026-11-20T10:00:00Z",
                                   "contact": {"email": "e" * 400 + "@acme.io"}}).encode()])


@pytest.mark.timeout(300)
def test_ingest_fuzz_300_bodies(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fuzz.db'}")
    try:
        config = ingest.IngestConfig(store=store, secret=SECRET, clock=lambda: NOW, max_bytes=512_000,
                                     max_events=100)
        for i in range(CASES):
            rng = random.Random(SEED + i)
            body = _body(rng)
            headers = ingest.signed_headers(SECRET, body, NOW) if rng.random() < 0.9 else {}
            answer = ingest.handle(config, headers, body)
            where = f"seed {SEED + i}"
            assert answer.status in (202, 401, 413, 422), f"{where}: {answer}"
            json.dumps(answer.body)  # a JSON reason, always
            if answer.status == 422 and answer.body.get("error") == "invalid_events":
                assert all(re.fullmatch(r"[A-Z]+\d{3}", p["code"]) for p in answer.body["detail"]), where
    finally:
        store.close()
