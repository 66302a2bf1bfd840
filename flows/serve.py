"""`plays serve`: the long-running runtime on one machine.

- one deployment per Play (`Runner.add_flow`: the flows stay in memory, no importable entrypoint
  needed), with a `DeploymentEventTrigger` on its event types, or its `every`/`cron` schedule for a
  `schedule` Play; concurrency 1 per Play;
- the sync flow (`plays-sync`) every ``sync_every`` (15 min by default): CRM pull, field discovery,
  tracking fields and activities, retries of pending Plays;
- the ingest endpoint (`flows.ingest`) storing events and emitting coalesced Prefect events.

Flow runs execute in threads of this process (`flows.executor`: the Plays are compiled once and
a run starts within a second of its trigger), or, with ``executor="subprocess"``, in processes
spawned by Prefect's own Runner (3-5 s slower to start each; they rebuild the context from the
``PLAYS_*`` environment, see `flows.runtime`). At start-up, Plays with events still pending (e.g.
after a crash) are asked to run at once; afterwards, events a stopped batch left pending (the CRM
failing, say) are asked to run again every ``$PLAYS_RETRY_EVERY`` seconds (default 60) while they
stay pending and nothing applies them — not only at the next event or the next sync — except
while the API budget holds them (the sync schedule re-asks the budget then).
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable

from engine.connectors.budget import CODE as BUDGET_STOP
from engine.evaluate.audience import parse_duration
from flows.artifacts import play_description
from flows.consumers import BATCH, pending_count, trigger_types
from flows.ingest import IngestConfig, IngestServer
from flows.runtime import RuntimeSettings, get_runtime
from flows.triggers import deployment_trigger, notifier, request_retry

log = logging.getLogger("plays.serve")

DEFAULT_SYNC_EVERY = "15m"
RETRY_ENV = "PLAYS_RETRY_EVERY"
DEFAULT_RETRY_EVERY = 60.0


def retry_parked(rt: Any, play_id: str, stop: threading.Event, every: float) -> None:
    """Every `every` seconds: when events are pending and the batch cursor has not moved since the
    last look (nothing is applying them), ask `play_id`'s deployment for a run (`plays.retry`)."""
    last: int | None = None
    while not stop.wait(every):
        try:
            waiting, cursor = pending_count(rt), rt.store.cursor(BATCH)
            # parked by the API budget: a retry before the allowance resets would only fail again
            parked_by_budget = any(r.get("stopped") == BUDGET_STOP for r in rt.store.last_batch())
        except Exception as exc:  # noqa: BLE001 - a store hiccup: look again next time
            log.warning("could not look at the pending events: %s", exc)
            continue
        if waiting and cursor == last and not parked_by_budget:
            log.info("%d events still pending; asking for a run", waiting)
            request_retry(play_id, waiting)
        last = cursor


def retry_every() -> float:
    import os

    try:
        return max(float(os.environ.get(RETRY_ENV) or DEFAULT_RETRY_EVERY), 0.5)
    except ValueError:
        return DEFAULT_RETRY_EVERY


def seconds(text: str | None, default: str = DEFAULT_SYNC_EVERY) -> float:
    """``15m`` / ``1h`` / ``30s`` / ``1d`` -> seconds (a bare number is seconds)."""
    text = (text or default).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    us = parse_duration(text)
    if us is None:
        raise ValueError(f"not a duration: {text!r} (write e.g. 15m, 1h, 30s)")
    return us / 1_000_000


@dataclass
class Served:
    ingest_url: str
    deployments: list[str]
    sync_every: float


def sync_interval(rt: Any, override: str | None) -> float:
    if override:
        return seconds(override)
    values = [s.sync_every for s in (rt.integration.salesforce, rt.integration.hubspot) if s is not None]
    return min((seconds(v) for v in values), default=seconds(DEFAULT_SYNC_EVERY))


def build_runner(settings: RuntimeSettings, *, sync_every: str | None = None, query_seconds: float = 1.0):
    """A Runner holding one deployment per Play plus the sync flow. Returns (runner, routes, names)."""
    from prefect.runner import Runner

    from flows.play_flows import SYNC_FLOW_NAME, play_flow, sync_flow

    settings.apply()
    rt = get_runtime(settings)
    runner = Runner(name="plays", query_seconds=query_seconds, pause_on_shutdown=False)
    routes: dict[str, list[str]] = {}
    names: list[str] = []
    flows: dict[Any, Any] = {}
    for pid in sorted(rt.plays):
        play = rt.plays[pid]
        flow = play_flow(pid)
        t = play.trigger
        if t.type == "schedule":
            kw: dict[str, Any] = {"cron": t.cron} if t.cron else {"interval": seconds(t.every, "1d")}
            dep = runner.add_flow(flow, name=pid, parameters={"play": pid, "trigger": "schedule"},
                                  concurrency_limit=1, description=play_description(play), tags=["plays"], **kw)
        else:
            types = trigger_types(play)
            for typ in types:
                routes.setdefault(typ, []).append(pid)
            dep = runner.add_flow(flow, name=pid, triggers=[deployment_trigger(play, types)],
                                  parameters={"play": pid, "trigger": "manual"}, concurrency_limit=1,
                                  description=play_description(play), tags=["plays"])
        flows[dep] = flow
        names.append(f"{pid}/{pid}")
    every = sync_interval(rt, sync_every)
    dep = runner.add_flow(sync_flow, name=SYNC_FLOW_NAME, interval=every, parameters={"trigger": "schedule"},
                          concurrency_limit=1, tags=["plays"])
    flows[dep] = sync_flow
    names.append(f"{SYNC_FLOW_NAME}/{SYNC_FLOW_NAME}")
    return runner, routes, names, every, flows


def serve(settings: RuntimeSettings, *, secret: str, host: str = "127.0.0.1", port: int = 8787,
          sync_every: str | None = None, coalesce_window: float = 2.0, executor: str = "inprocess",
          on_ready: Callable[[Served], None] | None = None) -> None:
    """Run until interrupted (SIGINT / SIGTERM)."""
    runner, routes, names, every, flows = build_runner(settings, sync_every=sync_every)
    rt = get_runtime(settings)
    server = IngestServer(IngestConfig(store=rt.store, secret=secret, on_stored=notifier(routes, coalesce_window)),
                          host, port).start()
    pacing = threading.Event()  # stops the retries of parked events
    try:
        waiting = pending_count(rt)  # one run applies every pending event (all Plays together)
        first = next((pid for pid, play in sorted(rt.plays.items()) if play.trigger.type != "schedule"), None)
        if waiting and first is not None:
            request_retry(first, waiting)
        if first is not None:
            threading.Thread(target=retry_parked, args=(rt, first, pacing, retry_every()),
                             name="plays-retry-parked", daemon=True).start()
        served = Served(server.url + "/events", names, every)
        if executor == "subprocess":
            if on_ready is not None:
                on_ready(served)
            try:
                asyncio.run(runner.start())
            except KeyboardInterrupt:
                pass
        else:
            _run_in_process(flows, lambda: on_ready(served) if on_ready is not None else None)
    finally:
        pacing.set()
        server.stop()


class PrefectGone(RuntimeError):
    """The Prefect API stopped answering while serving: nothing would run the stored events."""


STOP_GRACE = 5.0  # seconds flow runs in progress get to finish after Ctrl-C / SIGTERM
API_GRACE = 20.0  # seconds the Prefect API may stay unreachable before serving stops ($PLAYS_PREFECT_GRACE)


def _run_in_process(flows: dict, ready: Callable[[], None] = lambda: None) -> None:
    """Serve the flows in this process; Ctrl-C / SIGTERM handlers are in place before `ready`."""
    from flows.executor import InProcessExecutor

    stop = threading.Event()
    signals = [0]

    def on_signal(*_: Any) -> None:
        signals[0] += 1
        stop.set()
        if signals[0] > 1:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        ready()
        _loop(InProcessExecutor(flows), stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _loop(executor, stop: threading.Event) -> None:
    """Run the executor until `stop`; stop serving when the Prefect API is gone for API_GRACE s."""
    import os
    import time

    from flows.server import healthy

    api = os.environ.get("PREFECT_API_URL")
    grace = float(os.environ.get("PLAYS_PREFECT_GRACE") or API_GRACE)
    worker = threading.Thread(target=executor.run, args=(stop,), name="plays-executor", daemon=True)
    worker.start()
    down_since: float | None = None
    last_check = 0.0
    try:
        while worker.is_alive() and not stop.wait(0.5):
            now = time.monotonic()
            if api and now - last_check >= 2.0:
                last_check = now
                if healthy(api, timeout=2.0):
                    down_since = None
                elif down_since is None:
                    down_since = now
                elif now - down_since > grace:
                    raise PrefectGone(f"SERVE002 the Prefect API at {api} has not answered for {grace:.0f} s: "
                                      f"stopped serving (events are no longer accepted; those stored stay pending)")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        worker.join(STOP_GRACE)
        if worker.is_alive():
            log.warning("flow runs still in progress after %.0f s were left; their events stay pending", STOP_GRACE)
