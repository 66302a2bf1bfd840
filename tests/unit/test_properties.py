"""Property tests (hypothesis) over generated CRM states and event streams (10,000 examples):

1. D-WB-2/D-WB-4: no non-owned field that is non-blank in the CRM is ever in `writes`, unless the
   node opted in with `overwrite`; `kept` never holds an owned field.
2. D-TR-1: tracking figures (and the tracking state) do not depend on event order or on events
   delivered several times (applied once).
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings, strategies as st

from engine.evaluate.compiler import compile_plays
from engine.language.model import build_play
from engine.evaluate.plan import Planner
from planhelp import hs_settings, integration, sf_settings

INTEG = integration(
    sf=sf_settings(default_values={"LeadSource": "Unify"},
                   field_mappings_since={"Unify_Click_Count__c": "2026-11-20T12:00:00Z"}),
    hs=hs_settings(default_values={"lifecyclestage": "lead"}),
)
PLAYS = [
    build_play({"play": "a-status", "trigger": {"type": "sequence_status_changed"}, "start": "route", "nodes": {
        "route": {"type": "branch", "cases": [
            {"when": {"reply_classification": ["Positive", "Willing to meet"]}, "goto": "replied"},
            {"when": {"contact.Title": {"exists": True}}, "goto": "nurture"}], "default": "stop"},
        "replied": {"type": "sync_to_salesforce", "object": "Lead", "fields": {
            "Status": "Replied", "Title": "{{ contact.title }}", "Unify_Most_Recent_Play__c": "{{ play.id }}"},
            "default_values": {"Rating": "Warm"}},
        "nurture": {"type": "sync_to_salesforce", "object": "auto", "fields": {"Status": "Nurturing"}}}}),
    build_play({"play": "b-overwrite", "trigger": {"type": "reply_classified"}, "start": "n", "nodes": {
        "n": {"type": "sync_to_salesforce", "object": "auto", "create": True, "overwrite": ["Rating"],
              "fields": {"Rating": "{{ reply.classification }}", "Status": "Open"}}}}),
    build_play({"play": "c-hub", "trigger": {"type": "email_engagement"}, "start": "n", "nodes": {
        "n": {"type": "sync_to_hubspot", "properties": {"hs_lead_status": "OPEN",
                                                        "unify_most_recent_play": "{{ play.id }}"}}}}),
    build_play({"play": "d-enroll", "trigger": {"type": "sequence_enrolled"}, "start": "n", "nodes": {
        "n": {"type": "sync_to_salesforce", "object": "Contact", "create": True,
              "fields": {"Title": "{{ contact.title }}", "Department": "Sales"}}}}),
]
COMPILED = compile_plays(PLAYS, INTEG)
OPT_IN = {("b-overwrite", "n"): {"Rating"}}
OWNED = {"salesforce": INTEG.salesforce.owned, "hubspot": INTEG.hubspot.owned}

EMAILS = ["ann@acme.io", "bo@acme.io", "cy@acme.io", "dee@acme.io"]
# every spelling of each email (case, spaces: D-WB-5), plus missing and invalid ones
SPELLINGS = [s for e in EMAILS for s in (e, e.upper(), f" {e} ", e.capitalize())] + [None, "", "not-an-email"]
VALUES = [None, "", "X", "Y", "Warm"]
SF_FIELDS = ["Status", "Title", "LeadSource", "Rating", "Department", "Unify_Most_Recent_Play__c"]
HS_FIELDS = ["hs_lead_status", "lifecyclestage", "unify_most_recent_play"]
# Cheap generation: one integer encodes all of a record's field values (shrinks towards all-None).
email_ix = st.integers(0, len(SPELLINGS) - 1)
hours = st.integers(0, 72)


def at(h: int) -> str:
    return f"2026-11-{19 + h // 24:02d}T{h % 24:02d}:00:00Z"


def decode(code: int, names: list[str]) -> dict:
    out = {}
    for name in names:
        code, r = divmod(code, len(VALUES))
        out[name] = VALUES[r]
    return out


@st.composite
def crm_state(draw):
    def sf(prefix: str, n: int) -> list[dict]:
        rows = []
        for i in range(n):
            e, h, code, opens = draw(st.tuples(email_ix, hours, st.integers(0, len(VALUES) ** 6 - 1),
                                               st.sampled_from([None, 0, 2])))
            rows.append({"Id": f"{prefix}{i}", "Email": SPELLINGS[e], "LastModifiedDate": at(h),
                         "Unify_Track_Opens__c": opens, **decode(code, SF_FIELDS)})
        return rows

    leads = sf("00Q", draw(st.integers(0, 5)))
    contacts = sf("003", draw(st.integers(0, 3)))
    hs = []
    for i in range(draw(st.integers(0, 4))):
        e, h, code = draw(st.tuples(email_ix, hours, st.integers(0, len(VALUES) ** 3 - 1)))
        hs.append({"id": str(i), "updatedAt": at(h), "properties": {"email": SPELLINGS[e], **decode(code, HS_FIELDS)}})
    return {"salesforce": {"Lead": leads, "Contact": contacts}, "hubspot": {"contacts": hs}}


TYPES = ["sequence_status_changed", "reply_classified", "sequence_enrolled", "email_sent", "email_opened",
         "email_clicked", "email_replied", "email_bounced"]
CLASSES = ["Positive", "Willing to meet", "Bad Timing", "OOO", "Mystery"]  # Mystery: unknown (D-VOC-2)
TITLES = [None, "VP", "CTO"]
TO = ["Completed: Replied", "Engaged", "Bounced"]
URLS = ["https://yourcompany.com/a", "https://go.yourcompany.com/b", "https://evil-yourcompany.com/c"]


def make_event(i: int, typ: int, h: int, e: int, extra: int) -> dict:
    t = TYPES[typ]
    extra, title = divmod(extra, len(TITLES))
    extra, cls = divmod(extra, len(CLASSES))
    extra, to = divmod(extra, len(TO))
    extra, url = divmod(extra, len(URLS))
    extra, flag = divmod(extra, 2)
    ev = {"id": f"e{i}", "type": t, "at": at(h), "contact": {"email": SPELLINGS[e], "title": TITLES[title]}}
    if t == "sequence_status_changed":
        ev["to"] = TO[to]
    if t in ("sequence_status_changed", "reply_classified", "email_replied"):
        ev["reply"] = {"classification": CLASSES[cls]}
    if t == "email_clicked":
        ev["url"] = URLS[url]
    if t == "email_replied":
        ev["in_thread"] = bool(flag)
    if t == "email_sent":
        ev["message"] = {"id": f"m{i}", "subject": "Hi", "manual": bool(flag)}
    return ev


one_event = st.tuples(st.integers(0, len(TYPES) - 1), hours, email_ix,
                      st.integers(0, len(TITLES) * len(CLASSES) * len(TO) * len(URLS) * 2 - 1))


@st.composite
def event_stream(draw):
    events = [make_event(i, *t) for i, t in enumerate(draw(st.lists(one_event, max_size=14)))]
    n = len(events)
    dups = draw(st.lists(st.integers(0, n - 1), max_size=4)) if n else []
    replayed = events + [dict(events[k]) for k in dups]
    random.Random(draw(st.integers(0, 2**32 - 1))).shuffle(replayed)
    return events, replayed


def _run(crm, events):
    p = Planner(COMPILED, INTEG, crm)
    p.feed(events)
    return p, p.result()


def _blank(v):
    return v is None or v == ""


@settings(max_examples=10_000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(crm=crm_state(), stream=event_stream())
def test_never_overwrite_and_order_independent_counts(crm, stream):
    events, replayed = stream
    planner, result = _run(crm, events)

    original = {}
    for crm_name, objects in crm.items():
        for obj, rows in objects.items():
            for row in rows:
                rid = row["Id"] if crm_name == "salesforce" else row["id"]
                original[(crm_name, obj, rid)] = row if crm_name == "salesforce" else row["properties"]

    # 1. D-WB-2 / D-WB-4: a non-owned, non-blank field is never written unless opted in
    for w in result.writes:
        if w.op == "create" or w.record is None:
            continue
        before = original[(w.crm, w.object, w.record)]
        allowed = OPT_IN.get((w.play, w.node), set())
        for f in w.fields:
            if f in OWNED[w.crm] or f in allowed:
                continue
            assert _blank(before.get(f)), f"{w.play}/{w.node} overwrote {f}={before.get(f)!r} on {w.record}"
    for k in result.kept:
        assert k.field not in OWNED[k.crm]
        assert not _blank(k.current)

    # 2. D-TR-1: figures independent of event order and duplicate delivery
    planner2, result2 = _run(crm, replayed)
    assert planner2.tracking_state.to_dict() == planner.tracking_state.to_dict()
    track = sorted((w.crm, str(w.record), w.email, sorted(w.fields.items())) for w in result.writes if w.node == "tracking")
    track2 = sorted((w.crm, str(w.record), w.email, sorted(w.fields.items())) for w in result2.writes if w.node == "tracking")
    assert track == track2
