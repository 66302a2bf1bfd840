"""What a flow run shows in the Prefect UI: table artifacts (writes, kept, skipped, activities) and
a markdown summary, built from a consumer `Report`. Rows beyond the report's cap are counted in the
summary, not listed. Must be called inside a flow run.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from engine.language.model import Play
from engine.language.run_view import deployment_description, docs_page_url, run_path_markdown
from engine.connectors.budget import summary as api_summary
from flows.consumers import ROW_CAP, PullReport, Report

_KEY = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    return _KEY.sub("-", "-".join(p.lower() for p in parts if p)).strip("-")[:100]


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def as_row(item: Any) -> dict:
    """An `engine.results` value (or a connector's created activity) as a table row."""
    if isinstance(item, dict):
        return item
    if hasattr(item, "to_row"):
        return item.to_row()
    return item.to_json()


def _table(rows: list[Any], columns: list[str]) -> list[dict]:
    return [{c: _cell(r.get(c)) for c in columns} for r in map(as_row, rows)]


WRITE_COLUMNS = ["crm", "object", "record", "email", "field", "before", "after", "op", "play", "node"]
KEPT_COLUMNS = ["crm", "object", "record", "email", "field", "current", "wanted", "reason", "play", "node"]
SKIPPED_COLUMNS = ["reason", "crm", "object", "record", "email", "event", "play", "node", "field", "detail"]
ACTIVITY_COLUMNS = ["crm", "object", "id", "record", "email", "external_id", "created", "play", "node", "event"]


def summary_markdown(report: Report, title: str, ui_hint: str | None = None, today: list[str] | None = None) -> str:
    c = report.counts
    lines = [f"# {title}", "",
             "| | count |", "|---|---:|",
             f"| events processed | {report.events} |",
             f"| batches | {report.batches} |",
             f"| records written | {c['writes']} |",
             f"| fields written | {c['fields']} |",
             f"| activities created | {c['activities']} |",
             f"| values kept (not blank, D-WB-2) | {c['kept']} |",
             f"| records skipped | {c['skipped']} |",
             f"| pending (retried later) | {c.get('pending', 0)} |", ""]
    if report.first_seq is not None:
        lines.append(f"Event log positions {report.first_seq}–{report.last_seq}.")
    if report.calls:  # D-RUN-5: the calls made and the day's usage against the budget
        lines += ["", "**CRM API calls:**", ""] + [f"- {line}" for line in api_summary(report.calls)]
        lines += [f"- {line}" for line in today or ()]  # from the store's ledger (`plays status`)
    if report.stopped:
        lines += ["", f"**Sync stopped:** {report.stopped.format()} — the batch stays pending and is retried."]
    if report.problem:
        lines += ["", f"**Not connected:** {report.problem.format()}"]
    if report.conflict:
        lines += ["", "Another run recorded one batch first; it was not recorded twice."]
    if any(len(rows) >= ROW_CAP for rows in (report.writes, report.kept, report.skipped, report.activities)):
        lines += ["", f"Tables list the first {ROW_CAP} rows each; `plays skipped` and the audit log hold all."]
    if report.skipped:
        reasons: dict[str, int] = {}
        for s in report.skipped:
            reasons[str(s.reason)] = reasons.get(str(s.reason), 0) + 1
        lines += ["", "Skipped by reason: " + ", ".join(f"`{k}` {v}" for k, v in sorted(reasons.items()))]
    if ui_hint:
        lines += ["", ui_hint]
    return "\n".join(lines) + "\n"


def docs_base() -> str | None:
    """Where the docs site (`plays docs`) is served or published: ``PLAYS_DOCS_URL``, by default
    `plays docs serve`'s address; set it empty for no links."""
    return os.environ.get("PLAYS_DOCS_URL", "http://127.0.0.1:8000/") or None


def play_description(play: Play) -> str:
    """A Play deployment's description: the Play's, with a link to its docs page."""
    return deployment_description(play, docs_base())


def play_path(report: Report, play: Play, integration: Any = None, objects: Any = None) -> str:
    """The path this run's events took through `play` (picture and step table), for its summary."""
    rows = {kind: [as_row(r) for r in getattr(report, kind)] for kind in ("writes", "kept", "skipped", "activities")}
    base = docs_base()
    return run_path_markdown(play, report.events, rows, docs_page_url(play.id, base) if base else None,
                             picture=True, integration=integration, objects=objects)


def publish(report: Report, name: str, title: str, play: Play | None = None, integration: Any = None,
            objects: Any = None, today: list[str] | None = None) -> None:
    """Create the run's artifacts (one table per non-empty kind, and the summary; for a Play's run
    the summary also shows the path its events took through the Play; `today`: lines of the
    calls made today, `engine.store.status.today_lines`)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    for kind, rows, columns, what in (
            ("writes", report.writes, WRITE_COLUMNS, "fields written, before -> after"),
            ("kept", report.kept, KEPT_COLUMNS, "wanted values kept out because the field holds a value"),
            ("skipped", report.skipped, SKIPPED_COLUMNS, "records not written, with the reason"),
            ("activities", report.activities, ACTIVITY_COLUMNS, "EmailMessages / Tasks created or updated")):
        if rows:
            create_table_artifact(table=_table(rows, columns), key=artifact_key(name, kind),
                                  description=f"{title}: {what}")
    summary = summary_markdown(report, title, today=today)
    if play is not None:
        summary += "\n" + play_path(report, play, integration, objects)
    create_markdown_artifact(markdown=summary, key=artifact_key(name, "summary"), description=report.message())


def publish_pull(pull: PullReport, name: str = "plays-sync") -> None:
    from prefect.artifacts import create_markdown_artifact

    lines = ["# CRM pull", "", "| object | changed records |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(pull.changed.items())]
    if pull.new_fields:
        lines += ["", "## New custom fields (D-SY-2)", ""]
        lines += [f"- {k}: {', '.join(v)}" for k, v in sorted(pull.new_fields.items())]
    if pull.problems:
        lines += ["", "## Problems", ""] + [f"- {p}" for p in pull.problems]
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=artifact_key(name, "pull"),
                             description="records pulled from the CRM and fields discovered")
