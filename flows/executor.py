"""Runs the served deployments' flow runs inside the `plays serve` process, one thread per run.

Prefect's own Runner starts every flow run in a freshly spawned Python process: measured here at
3-5 s of interpreter start-up, imports and context loading before the first line of the Play runs,
which alone breaks the 5 s event-to-write goal. This executor does what the Runner does — poll the
API for the deployments' scheduled runs, propose Pending, run the flow with Prefect's flow engine
(states, logs, artifacts, heartbeats as usual) — but in a thread of the serving process, where the
Plays are already compiled and the CRM connections open. It keeps one active run per deployment
(concurrency 1 per Play, on top of the deployments' own limit), oldest scheduled first.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from uuid import UUID

log = logging.getLogger("plays.executor")


class InProcessExecutor:
    """Poll every `poll` seconds; at most `workers` runs at once, one per deployment."""

    def __init__(self, flows: Mapping[UUID, Any], *, poll: float = 0.25, workers: int = 4):
        self.flows = dict(flows)
        self.poll = poll
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plays-run")
        self.active: dict[UUID, Future] = {}
        self.started: set[UUID] = set()

    def _due(self, client: Any) -> list[Any]:
        before = datetime.now(timezone.utc) + timedelta(seconds=max(self.poll, 0.5))
        runs = client.get_scheduled_flow_runs_for_deployments(deployment_ids=list(self.flows),
                                                              scheduled_before=before)
        return sorted(runs, key=lambda r: (r.next_scheduled_start_time is None, r.next_scheduled_start_time))

    def _claim(self, client: Any, run_id: UUID) -> Any | None:
        """Propose Pending; the run as the API now has it, or None when the server said no."""
        from prefect.exceptions import Abort
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state_sync

        try:
            state = propose_state_sync(client, Pending(), flow_run_id=run_id)
        except Abort as exc:
            log.info("flow run %s not started: %s", run_id, exc)
            return None
        if not state.is_pending():
            return None  # e.g. waiting for a concurrency slot; it comes back scheduled
        return client.read_flow_run(run_id)

    def _execute(self, deployment_id: UUID, flow_run: Any) -> None:
        from prefect.flow_engine import run_flow

        try:
            run_flow(self.flows[deployment_id], flow_run=flow_run, parameters=dict(flow_run.parameters or {}),
                     return_type="state")
        except BaseException:  # noqa: BLE001 - the engine has recorded the failure on the run
            log.exception("flow run %s ended with an error", flow_run.id)

    def step(self, client: Any) -> int:
        """One poll: start every due run whose deployment is idle. Returns how many started."""
        started = 0
        for run in self._due(client):
            dep = run.deployment_id
            if run.id in self.started or dep not in self.flows:
                continue
            busy = self.active.get(dep)
            if busy is not None and not busy.done():
                continue
            claimed = self._claim(client, run.id)
            if claimed is None:
                continue
            self.started.add(run.id)
            self.active[dep] = self.pool.submit(self._execute, dep, claimed)
            started += 1
        return started

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set, then wait for the runs in progress."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            while not stop.is_set():
                try:
                    self.step(client)
                except Exception as exc:  # noqa: BLE001 - an API hiccup must not end the service
                    log.warning("polling for flow runs failed (%s: %s); retrying", type(exc).__name__,
                                str(exc).splitlines()[0][:200] if str(exc) else "")
                stop.wait(self.poll)
        self.pool.shutdown(wait=False, cancel_futures=True)  # `plays serve` waits a few seconds, no more
