"""Audiences for schedule triggers (D-AU-1..3)."""

from __future__ import annotations

from engine.evaluate.audience import members, parse_duration, read_csv
from engine.evaluate.events import event_from, parse_time
from engine.language.model import Audience
from engine.evaluate.tracking import TrackingConfig, TrackingState
from planhelp import ev, integration, sf_settings

NOW = parse_time("2026-11-20T12:00:00Z")


def state(*events):
    cfg = TrackingConfig.from_integration(integration(sf=sf_settings()))
    st = TrackingState()
    for e in events:
        st.observe(event_from(e), cfg)
    return st


def test_durations():
    assert parse_duration("15m") == 15 * 60 * 10**6 and parse_duration("2w") == 14 * 86400 * 10**6
    assert parse_duration("soon") is None


def test_engaged_within_window_d_au_1():
    st = state(ev("o", "email_opened", at="2026-11-19T12:00:00Z", email="a@x.io"),
               ev("c", "email_clicked", at="2026-11-01T12:00:00Z", email="b@x.io", url="https://y.io"),
               ev("c2", "email_clicked", at="2026-11-19T12:00:00Z", email="c@x.io", url="https://y.io"))
    aud = Audience(engaged=("opened",), within="2d")
    assert [m["email"] for m in members(aud, st, NOW)] == ["a@x.io"]
    aud = Audience(engaged=("opened", "clicked"), within="30d")
    assert [m["email"] for m in members(aud, st, NOW)] == ["a@x.io", "b@x.io", "c@x.io"]


def test_exclusions_toggle_d_au_2():
    st = state(ev("r1", "email_replied", at="2026-11-19T12:00:00Z", email="ooo@x.io", reply={"classification": "OOO"}),
               ev("r2", "email_replied", at="2026-11-19T12:00:00Z", email="bot@x.io", reply={"classification": "Automated"}),
               ev("r3", "email_replied", at="2026-11-19T12:00:00Z", email="real@x.io", reply={"classification": "Neutral"}))
    on = Audience(engaged=("replied",), within="7d", exclusions=True)
    off = Audience(engaged=("replied",), within="7d", exclusions=False)
    assert [m["email"] for m in members(on, st, NOW)] == ["real@x.io"]
    assert [m["email"] for m in members(off, st, NOW)] == ["bot@x.io", "ooo@x.io", "real@x.io"]


def test_csv_members_d_au_3():
    rows, _problems = read_csv("Email,First Name,Company\n Ann@Acme.io ,Ann,Acme\nbad,,\nbo@x.io,Bo,X\nann@acme.io,Dup,\n")
    assert [r["email"] for r in rows] == ["ann@acme.io", "bo@x.io", "ann@acme.io"]
    got = members(Audience(csv="a.csv"), TrackingState(), NOW, rows)
    assert got == [{"email": "ann@acme.io", "firstName": "Ann", "company": "Acme"},
                   {"email": "bo@x.io", "firstName": "Bo", "company": "X"}]
    st = state(ev("o", "email_opened", at="2026-11-19T12:00:00Z", email="bo@x.io"))
    both = Audience(csv="a.csv", engaged=("opened",), within="7d")
    assert [m["email"] for m in members(both, st, NOW, rows)] == ["bo@x.io"]


def test_audience_csvs_are_loaded_once_and_say_what_they_leave_out_d_au_3(tmp_path):
    """One rule, one place (D-AU-3): `engine.workspace.read_audiences` is the one audience loader for
    plan, test and the runtime: rows by Play id; an unreadable file (AUDIENCE001), a file without an
    email column (AUDIENCE002) and rows without an email (AUDIENCE003) are warnings, never silence."""
    from engine.language.model import build_play
    from engine.workspace import read_audiences

    def sched(pid: str, csv: str):
        return build_play({"play": pid, "trigger": {"type": "schedule", "every": "1h", "audience": {"csv": csv}},
                           "start": "n", "nodes": {"n": {"type": "sync_to_salesforce", "fields": {}}}},
                          file=str(tmp_path / f"{pid}.play.yaml"))

    (tmp_path / "ok.csv").write_text("Email,First Name\n Ann@Acme.io ,Ann\n,nobody\n")
    (tmp_path / "bad.csv").write_text("mail\nann@acme.io\n")
    plays = {p.id: p for p in (sched("a", "ok.csv"), sched("b", "bad.csv"), sched("c", "missing.csv"))}
    rows, diags = read_audiences(plays)
    assert rows["a"] == [{"email": "ann@acme.io", "firstName": "Ann"}] and rows["b"] == []
    assert "c" not in rows
    assert sorted(d.code for d in diags) == ["AUDIENCE001", "AUDIENCE002", "AUDIENCE003"]
