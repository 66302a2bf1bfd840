"""Play tests: run one test document through the planner and compare.

An expected entry matches an actual one when every key it gives is equal (numbers by value, times
by instant); ``fields`` matches when each listed field was written with an equal value (with
``exact: true``: exactly those fields); ``detail`` is a substring. Each expected entry needs its own
actual entry. An empty list means "none"; a list left out is not checked; ``exact: true`` makes
every given list exact. Only the Play under test runs. Broken events and CRM state slips the
schema lets through (a misspelt `Leads`, duplicate ids) fail the test with their coded diagnostic.

`run_test` is pure: the caller (``plays test``) reads files and passes the Plays, the integration,
the metadata and any audience CSV rows in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.evaluate.crmstate import check_crm_state
from engine.diagnostics import Diagnostic, Severity
from engine.evaluate.events import parse_event_list, parse_time
from engine.language.loader import Document
from engine.language.model import Integration, Play
from engine.evaluate.plan import plan
from engine.results import Outcome as PlanResult

LISTS = ("writes", "kept", "activities", "skipped")


@dataclass
class TestOutcome:
    __test__ = False  # not a pytest class

    name: str
    file: str
    line: int
    play: str
    passed: bool
    problems: list[str] = field(default_factory=list)  # readable diff lines
    diagnostics: list[Diagnostic] = field(default_factory=list)
    result: PlanResult | None = None

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


def values_equal(expected: Any, actual: Any) -> bool:
    """Equality for expectations: ``3 == 3.0``; two spellings of one instant; else exact."""
    if expected == actual and isinstance(expected, bool) == isinstance(actual, bool):
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    if isinstance(expected, str) and isinstance(actual, str) and len(expected) >= 16 and len(actual) >= 16:
        te, ta = parse_time(expected, need_zone=False), parse_time(actual, need_zone=False)
        return te is not None and te == ta
    return False


def entry_problems(exp: Mapping[str, Any], act: Mapping[str, Any], exact: bool) -> list[str]:
    """Why `act` does not match `exp` (empty: it matches)."""
    out: list[str] = []
    for key, want in exp.items():
        got = act.get(key)
        if key == "fields" and isinstance(want, Mapping):
            got = got or {}
            for f, v in want.items():
                if f not in got:
                    out.append(f"fields.{f}: expected {_j(v)}, not written")
                elif not values_equal(v, got[f]):
                    out.append(f"fields.{f}: expected {_j(v)}, got {_j(got[f])}")
            if exact:
                for f in got:
                    if f not in want:
                        out.append(f"fields.{f}: not expected, got {_j(got[f])}")
        elif key == "detail":
            if not isinstance(got, str) or str(want) not in got:
                out.append(f"detail: expected to contain {_j(want)}, got {_j(got)}")
        elif not values_equal(want, got):
            out.append(f"{key}: expected {_j(want)}, got {_j(got)}")
    return out


def _j(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=False)


def _assign(expected: list, actual: list, exact: bool) -> list[int | None]:
    """Each expected entry -> a distinct matching actual index (maximum bipartite matching)."""
    cand = [[j for j, a in enumerate(actual) if not entry_problems(e, a, exact)] for e in expected]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in cand[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        augment(i, set())
    result: list[int | None] = [None] * len(expected)
    for j, i in owner.items():
        result[i] = j
    return result


def compare(expect: Mapping[str, Any], actual: Mapping[str, list]) -> list[str]:
    """Readable problems of `actual` (a `PlanResult.to_json()`) against a test's `expect`."""
    exact = bool(expect.get("exact", False))
    problems: list[str] = []
    for name in LISTS:
        if name not in expect:
            continue
        want = list(expect.get(name) or [])
        got = list(actual.get(name) or [])
        if not want and got:
            problems.append(f"{name}: expected none, got {len(got)}:")
            problems.extend(f"    {_j(a)}" for a in got)
            continue
        assigned = _assign(want, got, exact)
        for i, j in enumerate(assigned):
            if j is not None:
                continue
            problems.append(f"{name}[{i}] not found: {_j(want[i])}")
            if got:
                best = min(got, key=lambda a: len(entry_problems(want[i], a, exact)))
                label = " ".join(str(best.get(k)) for k in ("crm", "object", "record", "play", "node", "reason")
                                 if best.get(k) is not None)
                problems.append(f"    closest actual ({label}):")
                problems.extend(f"      - {p}" for p in entry_problems(want[i], best, exact))
            else:
                problems.append(f"    there are no {name} at all")
        if exact:
            used = {j for j in assigned if j is not None}
            extra = [a for j, a in enumerate(got) if j not in used]
            if extra:
                problems.append(f"{name}: {len(extra)} unexpected (exact: true):")
                problems.extend(f"    {_j(a)}" for a in extra)
        if any(j is None for j in assigned) and got:
            problems.append(f"  actual {name} ({len(got)}):")
            problems.extend(f"    {_j(a)}" for a in got)
    return problems


_PROBLEM_AT = re.compile(r"^(?P<list>" + "|".join(LISTS) + r")(?:\[(?P<i>\d+)\]| ?:)")


def expectation_path(problem: str) -> tuple | None:
    """The document path of the expectation a `compare` problem line is about (``writes[1] not
    found`` -> ``("expect", "writes", 1)``), for its FILE:LINE; None for a detail line."""
    m = _PROBLEM_AT.match(problem)
    if not m:
        return None
    return ("expect", m.group("list")) + ((int(m.group("i")),) if m.group("i") is not None else ())


def run_test(doc: Document, data: Mapping[str, Any], plays: Mapping[str, Play], integration: Integration,
             crm_objects: Mapping | None = None, audiences: Mapping[str, list] | None = None,
             planner: Any = None) -> TestOutcome:
    """Run one schema-valid test document. `planner` has `plan`'s signature; `plays test` passes
    `engine.run.plan_on_state` (the same `apply_batch` as `plays run`, over the test's CRM state)."""
    name = str(data.get("test", "?"))
    pid = str(data.get("play", ""))
    line = doc.pos(("test",))[0]
    outcome = TestOutcome(name, doc.file, line, pid, False)
    play = plays.get(pid)
    if play is None:
        outcome.problems.append(f"Play '{pid}' is unknown or has errors (run `plays validate`)")
        return outcome
    crm = data.get("crm") or {}
    state_errors = [Diagnostic(x.code, Severity(x.severity), doc.file, *doc.pos(("crm",) + x.path, x.at_key),
                               x.message, x.hint) for x in check_crm_state(crm) if x.severity == "error"]
    items = data.get("events") or []

    def locate(i: int):
        return lambda path=(), key=False: doc.pos(("events", i) + tuple(path), key)

    events, diags = parse_event_list(items, doc.file, locate=locate)
    outcome.diagnostics = state_errors + diags
    errors = state_errors + [d for d in diags if d.severity == "error"]
    if errors:
        outcome.problems.extend(d.format() for d in errors)
        return outcome
    result = (planner or plan)({pid: play}, integration, events, crm, now=data.get("now"),
                  crm_objects=crm_objects, audiences=audiences)
    outcome.result = result
    outcome.problems = compare(data.get("expect") or {}, result.to_json())
    outcome.passed = not outcome.problems
    return outcome
