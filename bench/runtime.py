"""The runtime under load, on one machine with a local Prefect server and the sandbox CRM.

1. Burst: N events (default 100,000: enrolments, sends, opens, clicks, replies over 20,000 Leads and
   5,000 HubSpot contacts) through `plays run --sandbox-info` (the sandbox lives in this process, so
   the figure is the runner's): total wall time, flow runs used, peak RSS of the runner.
   Goals: <= 120 s and <= 1 GiB on 2 cores.
   CRM API calls of the batches against the minimum for the records they touched (D-RUN-3: per
   batch, `engine.run.api_minimum`: HubSpot ⌈reads/100⌉ + ⌈writes/100⌉ + ⌈activities/100⌉,
   Salesforce its cheapest paths, D-RUN-5): calls_ratio, goal <= 1.10.
2. Latency: single events posted one at a time to `plays serve`'s ingest endpoint; time from the
   POST to the write being visible in the sandbox, p50 / p95. Goal p95 <= 5 s.

Run: `.venv/bin/python bench/runtime.py [--events N] [--latency-events N]`. Prints a table and ends
with one `RESULT key=value ...` line.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.ingest import signed_headers  # noqa: E402
from flows.server import LocalPrefect  # noqa: E402
from sandbox.server import start_sandbox  # noqa: E402

PLAYS = ROOT / "plays"
SECRET = "bench-ingest-secret-0123456789abcdef"  # >= 32 bytes (D-OPS-1)
CLASSES = ["Willing to meet", "Bad Timing", "Negative", "Positive", "Objection/Negative"]


def workload(n_events: int, folder: Path) -> tuple[Path, dict, int]:
    """~5 events per contact; 4 in 5 contacts are Salesforce Leads, 1 in 5 HubSpot contacts."""
    contacts = max(1, n_events // 5)
    leads, hs, lines = [], [], []
    for i in range(contacts):
        email = f"p{i}@corp{i % 97}.com"
        if i % 5:
            leads.append({"Id": f"00Q5g{i:013d}", "Email": email, "FirstName": f"P{i}", "LastName": "Bench",
                          "Company": f"Corp{i % 97}", "Status": None, "LeadSource": None,
                          "LastModifiedDate": "2026-11-01T00:00:00Z"})
        else:
            hs.append({"id": str(10_000 + i), "properties": {"email": email, "firstname": f"P{i}"},
                       "createdAt": "2026-10-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z"})
        contact = {"email": email, "firstName": f"P{i}"}
        day = f"2026-11-{2 + i % 20:02d}T"
        msg = {"id": f"m{i}", "subject": "Hi", "body_template": "Hi {{person.firstName}}",
               "body_rendered": f"Hi P{i}", "manual": False}
        seq = [("sequence_enrolled", {"status": "Queued"}),
               ("email_sent", {"status": "Queued", "message": msg}),
               ("email_opened", {"status": "Engaged", "message": {"id": f"m{i}"}}),
               ("email_clicked", {"status": "Engaged", "message": {"id": f"m{i}"},
                                  "url": "https://www.yourcompany.com/pricing"}),
               ("sequence_status_changed", {"from": "Engaged", "to": "Completed: Replied",
                                            "reply": {"classification": CLASSES[i % len(CLASSES)]}})]
        for n, (kind, extra) in enumerate(seq):
            if len(lines) >= n_events:
                break
            lines.append(json.dumps({"id": f"b{i}-{n}", "type": kind, "at": f"{day}{8 + n:02d}:00:00Z",
                                     "contact": contact, "sequence": "Q4 Outbound", **extra}))
    path = folder / "burst.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, {"salesforce": {"Lead": leads, "Contact": []}, "hubspot": {"contacts": hs}}, len(lines)


def burst(n_events: int, env: dict, folder: Path) -> dict:
    events, seed, count = workload(n_events, folder)
    with start_sandbox(seed=seed) as sb:
        info = folder / "sandbox.json"
        info.write_text(json.dumps(sb.info))
        cmd = [sys.executable, "-m", "cli", "run", "--plays", str(PLAYS), "--events", str(events),
               "--sandbox-info", str(info), "--db", f"sqlite:///{folder / 'burst.db'}", "--format", "json"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"plays run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out = json.loads(proc.stdout)
        requests = sb.counters().get("requests")
    fields = sum(r["fields"] for r in out["runs"].values())
    acts = sum(r["activities"] for r in out["runs"].values())
    api = out.get("api") or {}
    calls = sum(a["calls"] for a in api.values())
    minimum = sum(a["minimum"] for a in api.values())
    return {"events": count, "wall_s": wall, "flow_runs": out["flow_runs"], "peak_mib": peak_mib,
            "fields": fields, "activities": acts, "crm_requests": requests, "api": api, "calls": calls,
            "minimum": minimum, "calls_ratio": calls / minimum if minimum else float("nan")}


def _lines(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [q.put(x) for x in stream], daemon=True).start()
    return q


def latency(n: int, env: dict, folder: Path, gap: float) -> list[float]:
    leads = [{"Id": f"00Q5gLAT{i:010d}", "Email": f"lat{i}@acme.io", "LastName": "Lat", "Company": "Acme",
              "Status": None, "LastModifiedDate": "2026-11-01T00:00:00Z"} for i in range(n)]
    import requests

    with start_sandbox(seed={"salesforce": {"Lead": leads, "Contact": []}, "hubspot": {"contacts": []}}) as sb:
        info = folder / "lat-sandbox.json"
        info.write_text(json.dumps(sb.info))
        senv = dict(env, PLAYS_INGEST_SECRET=SECRET, PLAYS_DATABASE_URL=f"sqlite:///{folder / 'serve.db'}")
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--plays", str(PLAYS), "--port", "0",
                                 "--sandbox-info", str(info)], env=senv, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        out: list[float] = []
        try:
            ready = json.loads(_lines(proc.stdout).get(timeout=180))
            time.sleep(3)  # let the runner's first poll happen, as in a long-running service
            for i in range(n):
                ev = {"id": f"lat-{i}", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
                      "contact": {"email": f"lat{i}@acme.io"}, "from": "Engaged", "to": "Completed: Replied",
                      "sequence": "Q4", "reply": {"classification": "Willing to meet"}}
                body = json.dumps(ev).encode()
                t0 = time.perf_counter()
                r = requests.post(ready["ingest"], data=body, headers=signed_headers(SECRET, body), timeout=10)
                assert r.status_code == 202, r.text
                rid = f"00Q5gLAT{i:010d}"
                while time.perf_counter() - t0 < 60:
                    lead = next(x for x in sb.state()["salesforce"]["Lead"] if x["Id"] == rid)
                    if lead.get("Status") == "Replied":
                        break
                    time.sleep(0.02)
                out.append(time.perf_counter() - t0)
                time.sleep(gap)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--latency-events", type=int, default=20)
    ap.add_argument("--gap", type=float, default=3.0, help="seconds between single events")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="plays-bench-") as tmp:
        folder = Path(tmp)
        server = LocalPrefect(folder / "prefect", ui=False).start()
        env = dict(os.environ, **server.env(), PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING")
        try:
            b = burst(args.events, env, folder)
            lat = latency(args.latency_events, env, folder, args.gap) if args.latency_events else []
        finally:
            server.stop()
    p50 = statistics.median(lat) if lat else float("nan")
    p95 = sorted(lat)[max(0, int(round(0.95 * len(lat))) - 1)] if lat else float("nan")
    rows = [("burst events", f"{b['events']}"), ("burst wall time (s)", f"{b['wall_s']:.1f}  (goal <= 120)"),
            ("flow runs used", f"{b['flow_runs']}"), ("runner peak RSS (MiB)", f"{b['peak_mib']:.0f}  (goal <= 1024)"),
            ("fields written", f"{b['fields']}"), ("activities", f"{b['activities']}"),
            ("CRM requests (all, incl. login/describe/pull)", f"{b['crm_requests']}"),
            *[(f"  {crm}: batch API calls / minimum", f"{a['calls']} / {a['minimum']}") for crm, a in b["api"].items()],
            ("batch API calls", f"{b['calls']}"),
            ("minimum for the records touched", f"{b['minimum']}  = sum over batches of engine.run.api_minimum "
                                                "(HubSpot 100 records a call; Salesforce D-RUN-5 paths)"),
            ("calls_ratio", f"{b['calls_ratio']:.2f}  (goal <= 1.10)"),
            ("events/s", f"{b['events'] / b['wall_s']:.0f}"),
            ("single-event latency p50 (s)", f"{p50:.2f}"), ("single-event latency p95 (s)", f"{p95:.2f}  (goal <= 5)"),
            ("latency samples", f"{len(lat)}: " + " ".join(f"{x:.2f}" for x in lat))]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"RESULT events={b['events']} wall_s={b['wall_s']:.1f} flow_runs={b['flow_runs']} "
          f"crm_calls={b['calls']} crm_calls_minimum={b['minimum']} calls_ratio={b['calls_ratio']:.2f} "
          f"peak_mib={b['peak_mib']:.0f} latency_p50_s={p50:.2f} latency_p95_s={p95:.2f} "
          f"cores={os.cpu_count()}")


if __name__ == "__main__":
    main()
