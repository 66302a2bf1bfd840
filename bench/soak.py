"""Soak: `plays serve` on PostgreSQL under a bounded stream of signed events for a few minutes, with
the sandbox CRM failing about 20% of calls (429, 503, dropped connections) and the runner killed
with SIGKILL and restarted twice. Loopback only; everything it starts it stops.

The sender posts small signed batches at a steady rate (some events sent twice under new
signatures, as a retrying sender would) and retries a request, unchanged, until it is accepted
(the endpoint is down while the runner restarts). Once the stream ends the faults are cleared and
the service is given time to drain. Then, from the store and the CRM:

- events_in: events accepted (distinct ids); applied: those the runner has passed (every Play and
  the tracking fields apply in one pass); lost = events_in - applied;
- writes_audited / writes: CRM fields the Plays changed that have their audit row;
- duplicates: a field's value recorded as written again with no other value in between (one
  write applied or audited twice), plus activities created twice;
- p95: event accepted -> its first audit row (the write is in the CRM by then), seconds.

Goal: 0 lost, 0 duplicates, every write audited.

Run: `.venv/bin/python bench/soak.py [--seconds 180] [--rate 20] [--kills 2]`. Needs the local
PostgreSQL (127.0.0.1:5432, user postgres); uses its own database `plays_soak`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from engine.store import Store  # noqa: E402
from engine.workspace import load_workspace  # noqa: E402
from flows.consumers import BATCH  # noqa: E402
from flows.ingest import signed_headers  # noqa: E402
from flows.server import LocalPrefect  # noqa: E402
from sandbox.server import start_sandbox  # noqa: E402

PLAYS = ROOT / "plays"
SECRET = "soak-ingest-secret-0123456789abcdef0123"
PG_DB = "plays_soak"
FAULTS = {"seed": 11, "rules": [{"kind": "429", "rate": 0.08}, {"kind": "503", "rate": 0.08},
                                {"kind": "drop", "rate": 0.04}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url() -> str:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"


def seed(contacts: int) -> dict:
    leads = [{"Id": f"00Q5gSOAK{i:09d}", "Email": f"s{i}@soak{i % 13}.com", "FirstName": f"S{i}",
              "LastName": "Soak", "Company": f"Soak{i % 13}", "Status": None, "LeadSource": None,
              "LastModifiedDate": "2026-11-01T00:00:00Z"} for i in range(contacts)]
    return {"salesforce": {"Lead": leads, "Contact": []}, "hubspot": {"contacts": []}}


def event(n: int, contacts: int, rng: random.Random) -> dict:
    i = rng.randrange(contacts)
    contact = {"email": f"s{i}@soak{i % 13}.com", "firstName": f"S{i}"}
    at = f"2026-11-{2 + n // 86400 % 20:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
    kind = rng.random()
    if kind < 0.35:
        return {"id": f"soak-{n}", "type": "sequence_enrolled", "at": at, "contact": contact, "sequence": "Soak",
                "status": "Queued"}
    if kind < 0.7:
        return {"id": f"soak-{n}", "type": "sequence_status_changed", "at": at, "contact": contact,
                "sequence": "Soak", "from": "Engaged", "to": "Completed: Replied",
                "reply": {"classification": rng.choice(["Willing to meet", "Bad Timing", "Negative"])}}
    return {"id": f"soak-{n}", "type": "email_opened", "at": at, "contact": contact, "sequence": "Soak",
            "status": "Engaged", "message": {"id": f"m{i}"}}


class Sender:
    """Posts signed batches; retries a request unchanged until it is accepted (or its window ends)."""

    def __init__(self, url: str):
        self.url = url
        self.accepted: dict[str, float] = {}  # event id -> first accept time (wall clock)
        self.requests = self.retries = self.replays_refused = 0

    def send(self, batch: list[dict]) -> None:
        body = json.dumps(batch).encode()
        headers = signed_headers(SECRET, body)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            self.requests += 1
            try:
                r = requests.post(self.url, data=body, headers=headers, timeout=15)
            except requests.RequestException:
                r = None
            if r is not None and r.status_code == 202:
                now = time.time()
                for e in batch:
                    self.accepted.setdefault(e["id"], now)
                return
            if r is not None and r.status_code == 401 and r.json().get("error") == "replayed":
                self.replays_refused += 1  # the first try was stored after all: fine
                now = time.time()
                for e in batch:
                    self.accepted.setdefault(e["id"], now)
                return
            self.retries += 1
            time.sleep(0.5)
        raise RuntimeError("a request was never accepted")


def start_serve(env: dict, info: Path, db: str, port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--plays", str(PLAYS), "--sandbox-info", str(info),
                             "--db", db, "--port", str(port), "--sync-every", "15s"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("plays serve did not start")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def drained(store: Store, ws) -> tuple[int, int]:
    """(events the runner has passed, events in): one consumer applies every Play and tracking."""
    total = store.event_count()
    return total - store.pending_count(BATCH), total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--rate", type=float, default=20, help="events per second")
    ap.add_argument("--contacts", type=int, default=400)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--drain", type=float, default=240, help="seconds allowed to drain after the stream")
    args = ap.parse_args()
    rng = random.Random(7)
    url = pg_url()
    schema = f"soak_{uuid.uuid4().hex[:8]}"
    ws = load_workspace([str(PLAYS)])
    with tempfile.TemporaryDirectory(prefix="plays-soak-") as tmp:
        folder = Path(tmp)
        prefect = LocalPrefect(folder / "prefect", ui=False, fast_services=True).start()
        box = start_sandbox(seed=seed(args.contacts))
        info = folder / "sandbox.json"
        info.write_text(json.dumps(box.info))
        env = dict(os.environ, **prefect.env(), PLAYS_INGEST_SECRET=SECRET, PLAYS_DATABASE_SCHEMA=schema,
                   PLAYS_HOME=str(folder / "home"), PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING")
        port = free_port()
        store = Store(url, schema=schema)
        log = open(folder / "serve.log", "w")
        serve = None
        sender = Sender(f"http://127.0.0.1:{port}/events")
        kills = 0
        t_start = time.monotonic()
        try:
            serve = start_serve(env, info, url, port, log)
            nonlocal_serve = [serve]
            restarting = threading.Thread(target=lambda: None)
            restarting.start()
            box.set_faults(FAULTS)
            sending: list[threading.Thread] = []
            kill_at = [args.seconds * (k + 1) / (args.kills + 1) for k in range(args.kills)]
            n = 0
            while (elapsed := time.monotonic() - t_start) < args.seconds:
                if kill_at and elapsed >= kill_at[0] and not restarting.is_alive():
                    serve = nonlocal_serve[0]
                    kill_at.pop(0)
                    os.killpg(serve.pid, signal.SIGKILL)
                    serve.wait(10)
                    kills += 1

                    def restart() -> None:  # the stream goes on meanwhile: the sender retries
                        nonlocal_serve[0] = start_serve(env, info, url, port, log)
                    restarting = threading.Thread(target=restart, daemon=True)
                    restarting.start()
                serve = nonlocal_serve[0]
                batch = [event(n + j, args.contacts, rng) for j in range(max(1, int(args.rate / 2)))]
                n += len(batch)
                if rng.random() < 0.1 and sender.accepted:  # a sender resending an event it sent before
                    old = rng.choice(list(sender.accepted))
                    batch.append({**batch[0], "id": old})
                t = threading.Thread(target=sender.send, args=(batch,), daemon=True)
                t.start()
                sending.append(t)
                time.sleep(max(0.0, 0.5 - (time.monotonic() - t_start - elapsed)))
            stream_s = time.monotonic() - t_start
            while restarting.is_alive():
                restarting.join(1)
            for t in sending:
                t.join(300)
            serve = nonlocal_serve[0]
            box.set_faults(None)
            deadline = time.monotonic() + args.drain
            applied, events_in = drained(store, ws)
            while applied < events_in and time.monotonic() < deadline:
                time.sleep(3)
                applied, events_in = drained(store, ws)
            if applied < events_in:
                print(f"pending: {store.pending_count(BATCH)}", file=sys.stderr)
                print((folder / "serve.log").read_text()[-3000:], file=sys.stderr)
            # what the CRM holds vs the audit log
            audit = store.audit()
            field_rows = [a for a in audit if a["field"] != "*"]
            audited = Counter((a["record"], a["field"]) for a in field_rows)
            # a duplicate: a field's value recorded as written again with no other value in between
            # (the same write applied or audited twice); A -> B -> A is two real changes
            last: dict[tuple, str] = {}
            dup_values = 0
            for a in sorted(field_rows, key=lambda r: r["id"]):
                key, value = (a["record"], a["field"]), json.dumps(a["after"], sort_keys=True)
                dup_values += last.get(key) == value
                last[key] = value
            state = box.state()["salesforce"]
            seeded = {r["Id"]: r for r in seed(args.contacts)["salesforce"]["Lead"]}
            written = unaudited = 0
            for lead in state["Lead"]:
                before = seeded.get(lead["Id"], {})
                for name, value in lead.items():
                    if name.startswith(("Status", "LeadSource", "Unify_")) and value not in (None, "") \
                            and value != before.get(name):
                        written += 1
                        unaudited += audited[(lead["Id"], name)] == 0
            acts = [r.get("Unify_Event_Id__c") for obj in ("Task", "EmailMessage") for r in state.get(obj, [])]
            dup_acts = sum(c - 1 for c in Counter(a for a in acts if a).values() if c > 1)
            by_email: dict[str, list[float]] = {}
            for a in audit:
                if a["email"]:
                    by_email.setdefault(a["email"].lower(), []).append(a["at"].timestamp())
            lat = []
            everything = store.pending("soak-reader", None, 1_000_000).events  # a fresh cursor: every event
            for e in everything:
                t_in = sender.accepted.get(e.id)
                if t_in is None or e.type == "email_opened":
                    continue
                after = [t for t in by_email.get(e.email or "", []) if t >= t_in - 0.5]
                if after:
                    lat.append(min(after) - t_in)
        finally:
            if serve is not None and serve.poll() is None:
                os.killpg(serve.pid, signal.SIGINT)
                try:
                    serve.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(serve.pid, signal.SIGKILL)
            log.close()
            box.stop()
            prefect.stop()
            try:
                store.drop()
            finally:
                store.close()
    lat.sort()
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)] if lat else float("nan")
    lost = events_in - applied
    duplicates = dup_values + dup_acts
    rows = [("stream (s)", f"{stream_s:.0f} at {args.rate:g} events/s, {FAULTS['rules'][0]['rate'] + FAULTS['rules'][1]['rate'] + FAULTS['rules'][2]['rate']:.0%} of CRM calls failing"),
            ("runner SIGKILLs (restarted)", f"{kills}"),
            ("requests / retried / replay-refused", f"{sender.requests} / {sender.retries} / {sender.replays_refused}"),
            ("events in (distinct ids)", f"{events_in}"), ("events applied", f"{applied}"),
            ("lost", f"{lost}  (goal 0)"), ("CRM fields written", f"{written}"),
            ("writes audited", f"{written - unaudited}  (goal = written)"),
            ("duplicates (values, activities)", f"{dup_values}, {dup_acts}  (goal 0)"),
            ("event -> audited write p95 (s)", f"{p95:.2f}  ({len(lat)} samples, under faults and restarts)")]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"RESULT events_in={events_in} applied={applied} writes={written} writes_audited={written - unaudited} "
          f"duplicates={duplicates} lost={lost} p95_s={p95:.2f} kills={kills} seconds={stream_s:.0f}")


if __name__ == "__main__":
    main()
