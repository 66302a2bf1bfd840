"""The flow factory and the sync flow: what Prefect runs.

`play_flow(play_id)` turns a compiled Play into a Prefect flow named after the Play; its runs are
named ``<play>:<trigger>`` (an event id, a batch, ``schedule``). A run drains every pending event of
its Play from the store in batches (`flows.consumers.drain`): a burst of events costs one run, not
one per event. A `schedule` Play's run goes once over its audience instead. `sync_flow` pulls CRM
changes, discovers new custom fields, writes tracking fields and email activities (the tracking
consumer) and asks for a retry of every Play that still has pending events.

Each run publishes table artifacts (writes, kept, skipped, activities) and a markdown summary, and
logs which rule kept or skipped what. The flow functions take only small parameters; the context
(Plays, store, CRM) comes from the environment (`flows.runtime`), so served subprocesses and
workers rebuild it. A run whose sync stopped ends Failed with the reason, and its events stay pending.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed

from flows import artifacts
from flows.consumers import TRACKING, Report, drain, play_consumer, pull_changes, run_schedule, tracking_consumer
from flows.runtime import get_runtime, utcnow
from flows.triggers import request_retry

SYNC_FLOW_NAME = "plays-sync"


class Opaque:
    """Holds a run's report as its result. Prefect walks plain containers and dataclasses in a
    result looking for futures (seconds for 2,000-row tables); it does not look inside this."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _finish(report: Report, title: str, name: str) -> Any:
    artifacts.publish(report, name, title)
    message = report.message()
    get_run_logger().info(message)
    if not report.ok:
        return Failed(message=message, data=Opaque(report))
    return Completed(message=message, data=Opaque(report))


def run_play(play: str, trigger: str = "manual", at: str | None = None) -> Any:
    """The body of every Play flow (module level, so served subprocesses import it by reference)."""
    rt = get_runtime()
    log = get_run_logger()
    if play not in rt.plays:
        return Failed(message=f"Play '{play}' is not among the valid Plays in {', '.join(rt.settings.plays)}")
    run_id = str(current_run.id) if current_run.id else None
    if rt.plays[play].trigger.type == "schedule":
        when = at or utcnow()
        report = run_schedule(rt, play, when, run=run_id, log=log.info)
        return _finish(report, f"{play} — scheduled pass", play)

    def progress(r: Report) -> None:
        log.info("batch %d done: %d events so far (log positions up to %s), %d records written, %d skipped",
                 r.batches, r.events, r.last_seq, r.counts["writes"], r.counts["skipped"])

    report = drain(rt, play_consumer(rt, play), run=run_id, log=log.info, on_batch=progress)
    return _finish(report, f"{play} — {trigger}", play)


_FLOWS: dict[str, Flow] = {}


def play_flow(play_id: str) -> Flow:
    """The Prefect flow of one Play (made once per process)."""
    f = _FLOWS.get(play_id)
    if f is None:
        f = _FLOWS[play_id] = Flow(run_play, name=play_id, flow_run_name="{play}:{trigger}",
                                   description=f"Play '{play_id}': drains its pending events and syncs them",
                                   persist_result=False, validate_parameters=True, retries=0)
    return f


@flow(name=SYNC_FLOW_NAME, flow_run_name="sync:{trigger}", persist_result=False)
def sync_flow(trigger: str = "schedule", pull: bool = True, retry_plays: bool = True) -> Any:
    """Pull CRM changes, discover fields, write tracking fields and activities, retry pending Plays."""
    rt = get_runtime()
    log = get_run_logger()
    if pull:
        pulled = pull_changes(rt)
        artifacts.publish_pull(pulled)
        for crm_obj, n in sorted(pulled.changed.items()):
            log.info("pulled %d changed records of %s", n, crm_obj)
        for crm_obj, names in sorted(pulled.new_fields.items()):
            log.info("new custom fields on %s (now usable as {{ contact.<name> }}): %s", crm_obj, ", ".join(names))
        for problem in pulled.problems:
            log.warning(problem)
        for skip in pulled.skipped[:200]:
            log.info("skipped %s %s %s [%s]: %s", skip["crm"], skip["object"], skip["record"], skip["reason"],
                     skip["detail"])
    run_id = str(current_run.id) if current_run.id else None
    report = drain(rt, tracking_consumer(rt), run=run_id, log=log.info)
    if pull and pulled.skipped:
        report.counts["skipped"] += len(pulled.skipped)
        report.skipped[:0] = pulled.skipped[:200]
    if retry_plays:
        for pid, play in rt.plays.items():
            if play.trigger.type == "schedule":
                continue
            waiting = rt.store.pending_count(pid, play_consumer(rt, pid).types)
            if waiting:
                log.info("Play %s has %d pending events: asking for a run", pid, waiting)
                request_retry(pid, waiting)
    return _finish(report, f"sync — tracking fields and activities ({trigger})", TRACKING)


def _report_of(state: Any, name: str) -> Report:
    data = state.result(raise_on_failure=False) if state is not None else None
    if isinstance(data, Opaque) and isinstance(data.value, Report):
        return data.value
    failed = Report(name)
    failed.problem = None
    return failed


@flow(name="plays-run", flow_run_name="run:{label}", persist_result=False)
def plays_run(label: str, schedule_at: str | None = None) -> Any:
    """One pass (`plays run`): each Play with pending events, the tracking pass, then schedules."""
    from flows.run import PassResult

    rt = get_runtime()
    log = get_run_logger()
    out = PassResult(parent_run=str(current_run.id) if current_run.id else None, flow_runs=1)  # this one

    def note(name: str, state: Any) -> None:
        out.flow_runs += 1
        out.reports[name] = _report_of(state, name)
        if not state.is_completed():
            out.failed.append(f"{name}: {state.message}")

    for pid in sorted(rt.plays):
        play = rt.plays[pid]
        if play.trigger.type == "schedule":
            continue
        consumer = play_consumer(rt, pid)
        if rt.store.pending_count(pid, consumer.types) == 0:
            continue
        note(pid, play_flow(pid)(play=pid, trigger=label, return_state=True))
    note(TRACKING, sync_flow(trigger=label, pull=True, retry_plays=False, return_state=True))
    if schedule_at is not None:
        for pid in sorted(p for p, play in rt.plays.items() if play.trigger.type == "schedule"):
            note(pid, play_flow(pid)(play=pid, trigger="schedule", at=schedule_at, return_state=True))
    total = out.total()
    artifacts.publish(total, "plays-run", f"plays run — {label}")
    log.info("pass done: %d flow runs; %s", out.flow_runs, total.message())
    return Opaque(out)
