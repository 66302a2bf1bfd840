"""D-RUN-5 budget guard on a long-lived connection (`plays serve` keeps its connectors): once the
budget is spent the guard refuses calls, but lets one through every `RECHECK` seconds so the
connection sees the allowance come back — parked work is not parked forever."""

from __future__ import annotations

from engine.connectors.budget import CODE, ApiBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def usage(used: int, total: int = 1000) -> dict[str, str]:
    return {"Sforce-Limit-Info": f"api-usage={used}/{total}"}


def test_a_spent_budget_is_asked_again_after_the_recheck_interval() -> None:
    clock = Clock()
    budget = ApiBudget("salesforce", 0.5, recheck=900, clock=clock)
    budget.note(usage(499))
    assert budget.check() is None
    budget.note(usage(500))
    stop = budget.check()
    assert stop is not None and stop.code == CODE
    clock.now = 899
    assert budget.check() is not None  # still parked
    clock.now = 900
    assert budget.check() is None      # one call goes through to read the usage afresh...
    assert budget.check() is not None  # ...and only one
    budget.note(usage(12))             # the allowance came back (a new day)
    assert budget.check() is None and budget.check() is None


def test_a_recheck_that_finds_the_budget_still_spent_parks_again() -> None:
    clock = Clock()
    budget = ApiBudget("hubspot", 0.5, recheck=60, clock=clock)
    budget.note({"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "100"})
    assert budget.check() is not None
    clock.now = 60
    assert budget.check() is None
    budget.note({"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "90"})
    assert budget.check() is not None
