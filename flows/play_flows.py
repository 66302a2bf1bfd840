"""The flows Prefect runs: one flow per Play (named after it), the sync flow and the pass flow.

Every flow that applies events drains the one event-log consumer (`flows.consumers.drain`): each
batch is one `engine.run.apply_batch` over every Play and the tracking fields together, so plan and
run are one code path (D-RUN-2) and a record is read and written once per batch (D-RUN-3). What
each Play did is still shown where a RevOps user looks for it: in a flow run of the flow named after
the Play, with that Play's writes, kept values, skipped records and activities as artifacts. The run
that drained the batch publishes its own Play's share and starts one short subflow run per other
Play that had a share (``<play>:<label>``, no CRM work in it: it only publishes). The Play-less
share (tracking fields, email activities, records without email) is the sync flow's.

`play_flow(play_id)`: event triggers and retries start it (served deployments). A `schedule`
Play's run goes once over its audience instead. `sync_flow` pulls CRM changes, discovers new
custom fields and applies what is pending. `plays_run` is `plays run`'s one pass. The flow
functions take only small parameters; the context comes from `flows.runtime`.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed

from engine.connectors.budget import calls_since
from engine.store.status import today_lines
from flows import artifacts
from flows.consumers import TRACKING, Report, drain, pending_count, pull_changes, run_schedule
from flows.runtime import get_runtime, utcnow

SYNC_FLOW_NAME = "plays-sync"


class Opaque:
    """Holds a run's report as its result. Prefect walks plain containers and dataclasses in a
    result looking for futures (seconds for 2,000-row tables); it does not look inside this."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _finish(report: Report, title: str, name: str) -> Any:
    rt = get_runtime()
    play = rt.plays.get(name)  # a Play's run: its summary shows the path through the Play
    now = utcnow()
    artifacts.publish(report, name, title, play, rt.integration if play else None,
                      rt.workspace.crm_objects if play else None,
                      today=today_lines(rt.store.calls_by_day(now), now) if report.calls else None)
    message = report.message()
    get_run_logger().info(message)
    if not report.ok:
        return Failed(message=message, data=Opaque(report))
    return Completed(message=message, data=Opaque(report))


_SHARES: dict[str, Report] = {}  # reports handed to a Play's subflow run in this process


def _show_shares(report: Report, label: str, own: str | None) -> None:
    """One subflow run per Play (other than `own`) that had a share of this pass."""
    import uuid

    for pid in report.plays():
        if pid == own:
            continue
        key = uuid.uuid4().hex
        _SHARES[key] = report.share(pid)
        # named apart from the Play's own triggered runs (``<play>:event <id>``), which may follow
        play_flow(pid)(play=pid, trigger=f"{label} (batch applied by {own or 'sync'})", share=key,
                       return_state=True)


def run_play(play: str, trigger: str = "manual", at: str | None = None, share: str | None = None) -> Any:
    """The body of every Play flow (module level, so served subprocesses import it by reference)."""
    if share is not None:  # a Play's share of a batch another run applied: show it
        report = _SHARES.pop(share, None) or Report(play)
        return _finish(report, f"{play} — {trigger}", play)
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

    report = drain(rt, run=run_id, log=log.info, on_batch=progress)
    _show_shares(report, trigger, play)
    if report.counts["fields"] or report.counts["activities"]:
        log.info("the whole batch (every Play and tracking): %s", report.message())
    own = report.share(play)
    own.calls = report.calls
    return _finish(own, f"{play} — {trigger}", play)


_FLOWS: dict[str, Flow] = {}


def play_flow(play_id: str) -> Flow:
    """The Prefect flow of one Play (made once per process)."""
    f = _FLOWS.get(play_id)
    if f is None:
        f = _FLOWS[play_id] = Flow(run_play, name=play_id, flow_run_name="{play}:{trigger}",
                                   description=f"Play '{play_id}': its writes, kept values and skipped records "
                                               "(the batch is applied with every Play together)",
                                   persist_result=False, validate_parameters=True, retries=0)
    return f


@flow(name=SYNC_FLOW_NAME, flow_run_name="sync:{trigger}", persist_result=False)
def sync_flow(trigger: str = "schedule", pull: bool = True, retry_plays: bool = True) -> Any:
    """Pull CRM changes, discover fields, apply what is pending (tracking fields and activities)."""
    rt = get_runtime()
    log = get_run_logger()
    pulled = None
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
            log.info("skipped %s %s %s [%s]: %s", skip.crm, skip.object, skip.record, skip.reason, skip.detail)
    run_id = str(current_run.id) if current_run.id else None
    report = drain(rt, run=run_id, log=log.info)
    if retry_plays:
        _show_shares(report, trigger, None)
    own = report.share(None, TRACKING)
    own.calls = report.calls
    if pulled is not None and pulled.skipped:
        own.counts["skipped"] += len(pulled.skipped)
        own.skipped[:0] = pulled.skipped[:200]
    return _finish(own, f"sync — tracking fields and activities ({trigger})", TRACKING)


def _report_of(state: Any, name: str) -> Report:
    data = state.result(raise_on_failure=False) if state is not None else None
    if isinstance(data, Opaque) and isinstance(data.value, Report):
        return data.value
    failed = Report(name)
    failed.problem = None
    return failed


def _counters(rt: Any) -> dict[str, dict[str, int]]:
    """The connectors' call counters now (they only grow) and the day's usage last reported."""
    conns = rt.connectors()
    if not isinstance(conns, dict):  # not connected: no calls
        return {}
    return {crm: {**conn.calls(), **getattr(conn, "api_usage", dict)()} for crm, conn in conns.items()}


@flow(name="plays-run", flow_run_name="run:{label}", persist_result=False)
def plays_run(label: str, schedule_at: str | None = None) -> Any:
    """One pass (`plays run`): every pending event in batches (every Play and the tracking fields
    together), each Play's share in a flow run named after it, then the sync flow, then schedules."""
    from flows.run import PassResult

    rt = get_runtime()
    log = get_run_logger()
    out = PassResult(parent_run=str(current_run.id) if current_run.id else None, flow_runs=1)  # this one

    def note(name: str, state: Any, report: Report | None = None) -> None:
        out.flow_runs += 1
        out.reports[name] = report if report is not None else _report_of(state, name)
        if not state.is_completed():
            out.failed.append(f"{name}: {state.message}")

    run_id = str(current_run.id) if current_run.id else None
    before = _counters(rt)
    batch = drain(rt, run=run_id, log=log.info) if pending_count(rt) else Report("batch")
    for pid in batch.plays():
        share = batch.share(pid)
        key = f"{run_id}:{pid}"
        _SHARES[key] = share
        note(pid, play_flow(pid)(play=pid, trigger=label, share=key, return_state=True), share)
    state = sync_flow(trigger=label, pull=True, retry_plays=False, return_state=True)
    tracking = batch.share(None, TRACKING).merge(_report_of(state, TRACKING))
    tracking.calls = batch.calls
    tracking.api = batch.api
    note(TRACKING, state, tracking)
    out.events = batch.events
    if not batch.ok:
        out.failed.append(batch.message())
    if schedule_at is not None:
        for pid in sorted(p for p, play in rt.plays.items() if play.trigger.type == "schedule"):
            note(pid, play_flow(pid)(play=pid, trigger="schedule", at=schedule_at, return_state=True))
    out.calls = calls_since(before, _counters(rt))
    total = out.total()
    now = utcnow()
    artifacts.publish(total, "plays-run", f"plays run — {label}",
                      today=today_lines(rt.store.calls_by_day(now), now) if total.calls else None)
    log.info("pass done: %d flow runs; %s", out.flow_runs, total.message())
    return Opaque(out)
