"""Issue 9's domain deviations, end to end through the planner: each test cites its rule id."""

from __future__ import annotations

from engine.evaluate.plan import plan
from planhelp import ev, integration, lead, sf_settings, sync_play, writes_by

SF = integration(sf=sf_settings())


def test_whitespace_only_crm_value_is_blank_and_written_d_wb_2():
    """D-WB-2: a CRM field holding only whitespace is blank, so a non-owned field is written."""
    r = plan([sync_play(fields={"Title": "VP"})], SF, [ev("e1")],
             {"salesforce": {"Lead": [lead("L1", Title="   ")]}})
    assert writes_by(r)[0].fields == {"Title": "VP"}
    assert r.kept == ()
