"""Benchmark: the planner on generated events over generated contacts, through the example Plays.

    .venv/bin/python bench/plan.py                     # 1,000,000 events over 100,000 contacts
    .venv/bin/python bench/plan.py --events 200000     # smaller
    .venv/bin/python bench/plan.py --profile           # cProfile of the compiled planner (top functions)

Measures, on one core, in one run:
- the compiled planner (`engine.evaluate.plan.Planner`: flat tables, trigger index, compiled templates),
  fed in batches like the runtime does (activities/skipped drained per batch, bounded dedupe window);
- a straightforward evaluator on the same Plays (`NaivePlanner` below): every event meets every
  Play, triggers and conditions are interpreted from the model, the Play is walked through its
  networkx graph per event, and every value goes through jinja — on a prefix of the same events;
- that both produce the same plan on a common prefix;
- event parsing (dict -> Event) separately, and peak memory (RSS) with checkpoints.

Ends with one line ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.language import graph  # noqa: E402
from engine.evaluate.compiler import EvalContext  # noqa: E402
from engine.evaluate.conditions import evaluate  # noqa: E402
from engine.evaluate.events import Event, iso_z, parse_event, parse_time  # noqa: E402
from engine.language.model import STOP  # noqa: E402
from engine.evaluate.plan import Planner  # noqa: E402
from engine.language.templates import is_template, render  # noqa: E402
from engine.language.vocab import NodeKind, TriggerType  # noqa: E402
from engine.workspace import load_workspace  # noqa: E402

T0 = parse_time("2026-11-01T00:00:00Z")
SEQUENCES = ("Q4 Outbound", "Webinar Follow-up", "Re-engage")
STATUSES = ("Completed: Replied", "Engaged", "Bounced", "Completed", "Paused")
CLASSES = ("Willing to meet", "Positive", "Bad Timing", "Negative", "Neutral", "OOO", "Needs more info",
           "Objection/Negative")
# (type, weight)
MIX = (("email_sent", 15), ("email_opened", 33), ("email_clicked", 15), ("email_replied", 8),
       ("sequence_status_changed", 10), ("reply_classified", 7), ("sequence_enrolled", 10), ("email_bounced", 2))
URLS = ("https://yourcompany.com/pricing", "https://go.yourcompany.com/demo", "https://evil-yourcompany.com/x")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------- data

def make_crm(n: int, rng: random.Random) -> dict:
    leads, contacts, hs = [], [], []
    for i in range(n):
        email = f"c{i}@example{i % 997}.com"
        r = rng.random()
        status = None if rng.random() < 0.6 else "Working - Contacted"
        fields = {"Email": email if rng.random() > 0.01 else f" {email.upper()}", "FirstName": f"F{i}",
                  "LastName": f"L{i}", "Status": status, "LeadSource": None if rng.random() < 0.5 else "Web",
                  "Unify_Last_Sequence__c": None, "Unify_Track_Opens__c": None,
                  "LastModifiedDate": iso_z(T0 - rng.randrange(10**6) * 10**6)}
        if r < 0.7:
            leads.append({"Id": f"00Q{i:012d}", "Company": "Acme", **fields})
            if rng.random() < 0.02:  # a duplicate Lead (D-WB-6)
                leads.append({"Id": f"00Q{i:012d}D", "Company": "Acme", **fields,
                              "LastModifiedDate": iso_z(T0 - 10**13)})
        elif r < 0.9:
            contacts.append({"Id": f"003{i:012d}", **fields})
        if rng.random() < 0.5:
            hs.append({"id": str(10**6 + i), "updatedAt": fields["LastModifiedDate"],
                       "properties": {"email": email, "firstname": f"F{i}", "hs_lead_status": None,
                                      "lifecyclestage": None if rng.random() < 0.5 else "lead"}})
    if n:
        leads.append({"Id": "00QNOEMAIL", "Email": None, "LastName": "X", "Company": "Y"})
    return {"salesforce": {"Lead": leads, "Contact": contacts}, "hubspot": {"contacts": hs}}


def make_contacts(n_contacts: int) -> list:
    """The event contact attributes of each contact (shared by its events, like a runtime cache)."""
    return [MappingProxyType({"email": f"c{i}@example{i % 997}.com", "firstName": f"F{i}"})
            for i in range(n_contacts)]


def event_stream(n_events: int, contacts: list, seed: int):
    """Events in time order, one Event at a time (built directly: parsing is measured apart)."""
    rng = random.Random(seed)
    types = [t for t, w in MIX for _ in range(w)]
    n_contacts = len(contacts)
    empty = MappingProxyType({})
    step = max(1, (30 * 86400 * 10**6) // max(n_events, 1))
    for k in range(n_events):
        typ = types[rng.randrange(len(types))]
        ci = rng.randrange(n_contacts)
        contact = contacts[ci]
        at = T0 + k * step
        reply = message = url = to = None
        seq = SEQUENCES[ci % 3]
        in_thread = True
        if typ in ("sequence_status_changed", "reply_classified", "email_replied"):
            reply = MappingProxyType({"classification": CLASSES[rng.randrange(len(CLASSES))], "tags": ("pricing",),
                                      "subject": "Re: hi", "body": "Thanks"})
        if typ == "sequence_status_changed":
            to = STATUSES[rng.randrange(len(STATUSES))]
        elif typ == "email_sent":
            message = MappingProxyType({"id": f"m{k}", "subject": "Hi", "body_template": "Hi {{person.firstName}}",
                                        "body_rendered": f"Hi {contact['firstName']}",
                                        "manual": rng.random() < 0.1})
        elif typ == "email_clicked":
            url = URLS[rng.randrange(3)]
        elif typ == "email_replied":
            in_thread = rng.random() > 0.05
        yield Event(id=f"evt-{k}", type=typ, at=at, at_text=iso_z(at), email=contact["email"], email_problem=None,
                    contact=contact, sequence=seq, status="Engaged", from_status="Engaged", to_status=to, url=url,
                    in_thread=in_thread, reply=reply, message=message, raw=empty)
        if rng.random() < 0.01 and k:  # a redelivered event (same id and time): applied once
            yield Event(id=f"evt-{k}", type=typ, at=at, at_text=iso_z(at), email=contact["email"],
                        email_problem=None, contact=contact, sequence=seq, status="Engaged", from_status="Engaged",
                        to_status=to, url=url, in_thread=in_thread, reply=reply, message=message, raw=empty)


# ---------------------------------------------------------------------------- the naive evaluator

class NaivePlanner(Planner):
    """The straightforward evaluator: no trigger index, no compiled tables or templates. Each event is
    checked against every Play's trigger (interpreted from the model), the Play is walked through its
    networkx graph, conditions are interpreted, and every value is rendered with jinja. The writeback
    policy, matching and tracking are the same code, so the plans are identical."""

    def __init__(self, plays, integration, crm_state, **kw):
        super().__init__(plays, integration, crm_state, **kw)
        self.models = [cp.play for cp in self.compiled.plays]
        self.graphs = {}
        for play in self.models:
            g = graph.build_graph(play)
            for nid, node in play.nodes.items():
                g.nodes[nid]["node"] = node
            self.graphs[play.id] = g
        self.by_id = {cp.id: cp for cp in self.compiled.plays}

    def _triggered(self, play, ev) -> bool:
        t = play.trigger
        if ev.type not in t.event_types:  # the one trigger routing, derived per call (interpreted)
            return False
        if t.type == TriggerType.SEQUENCE_STATUS_CHANGED:
            if t.from_statuses and ev.from_status not in t.from_statuses:
                return False
            if t.to_statuses and ev.to_status not in t.to_statuses:
                return False
        if t.type == TriggerType.REPLY_CLASSIFIED and t.classifications and ev.classification not in t.classifications:
            return False
        return not t.sequences or ev.sequence in t.sequences

    def _fire(self, ev) -> None:
        for play in self.models:  # every Play meets every event
            if self._triggered(play, ev) and play.enabled:
                self._walk(play, ev)

    def _walk(self, play, ev) -> None:
        g = self.graphs[play.id]
        cp = self.by_id[play.id]
        nid = play.start
        while nid != STOP:
            node = g.nodes[nid]["node"]
            ctx = EvalContext(ev, play.id, cp.crms, lambda crm: self._current(crm, ev))
            if node.kind == NodeKind.BRANCH:
                label = "default"
                for i, case in enumerate(node.cases):
                    if all(evaluate(c, ctx) for c in case.when):
                        label = f"case {i + 1}"
                        break
                nid = next(dst for dst, data in g[nid].items() if label in data["labels"])
                continue
            jctx = ctx.jinja_context()
            if node.kind == NodeKind.CREATE_TASK:
                n = SimpleNamespace(id=node.id, crm=str(node.crm), due_in_days=int(node.due_in_days or 0),
                                    subject=lambda c, s=node.subject: render(s, jctx) if is_template(s) else s,
                                    description=lambda c, s=node.description: render(s, jctx) if is_template(s) else s)
                self._task(play.id, n, ev, ctx)
            else:
                settings = self.integration.settings(str(node.crm))
                defaults = dict(settings.default_values) if settings else {}
                defaults.update(node.default_values)
                wanted = tuple((f, render(v, jctx) if is_template(v) else v) for f, v in node.fields.items())
                n = SimpleNamespace(id=node.id, crm=str(node.crm), object=node.object, literals=wanted, templates=(),
                                    defaults=defaults, default_templates=(), overwrite=frozenset(node.overwrite),
                                    create=node.create)
                self._sync(play.id, n, ev, ctx)
            nid = next(iter(g.successors(nid)))


# --------------------------------------------------------------------------------------------- run

def run(planner_cls, ws, crm, n_events, contacts, seed, batch, checkpoints=None, freeze=True):
    p = planner_cls(ws.plays, ws.integration, crm, crm_objects=ws.crm_objects, dedupe_window=86400 * 10**6)
    gc.collect()
    if freeze:  # what a long-running runtime does after loading: the CRM state is not rescanned by the GC
        gc.freeze()
    stream = event_stream(n_events, contacts, seed)
    fed = acts = skips = 0
    elapsed = 0.0
    marks = []
    next_mark = n_events // 4 if checkpoints is not None else None
    while True:
        chunk = []
        for ev in stream:
            chunk.append(ev)
            if len(chunk) >= batch:
                break
        if not chunk:
            break
        t = time.process_time()  # CPU time: robust on a shared machine
        p.feed(chunk)
        a, s = p.drain()
        elapsed += time.process_time() - t
        fed += len(chunk)
        acts += len(a)
        skips += len(s)
        del chunk, a, s
        if next_mark and fed >= next_mark:
            gc.collect()
            mem = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else rss_mb()
            marks.append((fed, mem, len(p.writes) + len(p.kept) + len(p.overlay) + len(p.tracking.contacts),
                          len(p._seen_ids)))
            next_mark += n_events // 4
    t = time.process_time()
    res = p.result()
    elapsed_result = time.process_time() - t
    gc.unfreeze()
    return p, res, fed, acts, skips, elapsed, elapsed_result, marks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--naive-events", type=int, default=100_000, help="events for the straightforward evaluator")
    ap.add_argument("--batch", type=int, default=5_000, help="events per feed() (a runtime batch)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="cProfile the compiled planner on --naive-events events")
    args = ap.parse_args()

    ws = load_workspace([str(ROOT / "plays")])
    if ws.errors:
        print("the example Plays have errors; run `plays validate plays/`", file=sys.stderr)
        return 1
    rng = random.Random(args.seed)
    t = time.perf_counter()
    crm = make_crm(args.contacts, rng)
    contacts = make_contacts(args.contacts)
    print(f"plays: {', '.join(sorted(ws.plays))}")
    print(f"contacts: {args.contacts:,} ({sum(len(v) for o in crm.values() for v in o.values()):,} CRM records, "
          f"built in {time.perf_counter() - t:.1f}s); events: {args.events:,} (+~1% redelivered duplicates); "
          f"batch {args.batch:,}; one core; python {sys.version.split()[0]}")

    if args.profile:  # only feed() and result() are profiled, not the event generator
        prof = cProfile.Profile()
        p = Planner(ws.plays, ws.integration, crm, crm_objects=ws.crm_objects, dedupe_window=86400 * 10**6)
        stream = event_stream(args.naive_events, contacts, args.seed)
        while True:
            chunk = [ev for _, ev in zip(range(args.batch), stream)]
            if not chunk:
                break
            prof.enable()
            p.feed(chunk)
            p.drain()
            prof.disable()
        prof.enable()
        p.result()
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(r"engine/|\{", 22)
        print(out.getvalue())
        return 0

    # 1. both evaluators give the same plan on a common prefix (one batch, nothing drained)
    check_n = min(20_000, args.events)
    plans = []
    for cls in (Planner, NaivePlanner):
        p = cls(ws.plays, ws.integration, crm, crm_objects=ws.crm_objects)
        p.feed(list(event_stream(check_n, contacts, args.seed)))
        plans.append(p.result().to_json())
    same = plans[0] == plans[1]
    del plans, p
    gc.collect()

    # 2. the compiled planner on every event, with memory checkpoints
    base_rss = rss_mb()
    p, res, fed, acts, skips, el, el_res, marks = run(Planner, ws, crm, args.events, contacts, args.seed,
                                                      args.batch, checkpoints=True)
    fast_rate = fed / el
    writes = len(res.writes)
    del p, res
    gc.collect()

    # 3. on a prefix: the straightforward evaluator, the compiled one, and neither (no Plays: tracking
    #    and activities only, the code both share) to isolate the cost of evaluating Plays
    n = min(args.naive_events, args.events)
    nfed, naive_el = run(NaivePlanner, ws, crm, n, contacts, args.seed, args.batch)[2:6:3]
    cfed, comp_el = run(Planner, ws, crm, n, contacts, args.seed, args.batch)[2:6:3]
    bare = SimpleNamespace(plays={}, integration=ws.integration, crm_objects=ws.crm_objects)
    bfed, bare_el = run(Planner, bare, crm, n, contacts, args.seed, args.batch)[2:6:3]
    naive_rate = nfed / naive_el
    play_naive = max(naive_el - bare_el, 1e-9) / nfed * 1e6
    play_comp = max(comp_el - bare_el, 1e-9) / cfed * 1e6

    # 3b. the whole `plays plan` path on the same prefix: engine.run.plan_on_state = apply_batch over
    #     the in-memory CRM (one read, the joint plan, the write-time re-check, the net writes)
    from engine.run import plan_on_state

    prefix = list(event_stream(n, contacts, args.seed))
    gc.collect()
    t = time.process_time()
    plan_on_state(ws.plays, ws.integration, prefix, crm, crm_objects=ws.crm_objects)
    path_el = time.process_time() - t
    path_rate = len(prefix) / path_el
    del prefix
    gc.collect()

    # 4. memory once the per-contact state is complete: many events over few contacts
    few = make_contacts(2_000)
    few_crm = make_crm(2_000, random.Random(args.seed))
    tracemalloc.start()  # exact Python heap, not RSS (which keeps what earlier phases freed)
    few_marks = run(Planner, ws, few_crm, 200_000, few, args.seed, args.batch, checkpoints=True)[7]
    tracemalloc.stop()

    sample = [{"id": f"e{i}", "type": "email_opened", "at": "2026-11-20T10:00:00Z",
               "contact": {"email": f" C{i}@Example.com", "firstName": "A"}, "message": {"id": "m"}}
              for i in range(50_000)]
    t = time.process_time()
    for d in sample:
        parse_event(d)
    parse_rate = len(sample) / (time.process_time() - t)

    print()
    print(f"{'evaluator (CPU time, one core)':<48}{'events':>12}{'seconds':>10}{'events/s':>12}")
    print(f"{'compiled (flat tables, trigger index)':<48}{fed:>12,}{el:>10.2f}{fast_rate:>12,.0f}")
    print(f"{'compiled, prefix':<48}{cfed:>12,}{comp_el:>10.2f}{cfed / comp_el:>12,.0f}")
    print(f"{'straightforward (networkx walk, jinja), prefix':<48}{nfed:>12,}{naive_el:>10.2f}{naive_rate:>12,.0f}")
    print(f"{'plays plan path (apply_batch, in-memory CRM)':<48}{n:>12,}{path_el:>10.2f}{path_rate:>12,.0f}")
    print(f"{'no Plays (tracking + activities only), prefix':<48}{bfed:>12,}{bare_el:>10.2f}{bfed / bare_el:>12,.0f}")
    print(f"{'event parsing (dict -> Event), apart':<48}{len(sample):>12,}{len(sample) / parse_rate:>10.2f}"
          f"{parse_rate:>12,.0f}")
    print(f"ratio compiled / straightforward, whole planner: {fast_rate / naive_rate:.1f}x; Play evaluation alone: "
          f"{play_naive:.2f} vs {play_comp:.2f} us/event = {play_naive / play_comp:.1f}x")
    print(f"same plan from both on the first {check_n:,} events: {'yes' if same else 'NO'}")
    print(f"result(): {el_res:.2f}s for {writes:,} net writes; {acts:,} activities and {skips:,} skipped drained")
    print()
    print(f"{'events fed':>12}{'RSS MB':>10}{'per-contact entries':>22}{'ids in dedupe window':>22}")
    for fed_at, mb, entries, ids in marks:
        print(f"{fed_at:>12,}{mb:>10.0f}{entries:>22,}{ids:>22,}")
    growth = (marks[-1][1] - marks[1][1]) if len(marks) > 1 else 0.0
    print(f"RSS before the run {base_rss:.0f} MB (CRM state + generated data); peak {peak_mb():.0f} MB")
    print("the same over 2,000 contacts (per-contact state complete early), traced heap: "
          + ", ".join(f"{f:,} events {mb:.1f} MB / {e:,} entries" for f, mb, e, _ in few_marks))
    few_growth = few_marks[-1][1] - few_marks[0][1]
    print(f"RESULT events={fed} contacts={args.contacts} events_per_s={fast_rate:.0f} "
          f"plan_path_events_per_s={path_rate:.0f} naive_events_per_s={naive_rate:.0f} ratio={fast_rate / naive_rate:.1f} "
          f"play_eval_ratio={play_naive / play_comp:.1f} same_plan={str(same).lower()} "
          f"peak_rss_mb={peak_mb():.0f} rss_growth_mb_second_half={growth:.0f} "
          f"rss_growth_mb_few_contacts={few_growth:.0f} parse_events_per_s={parse_rate:.0f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
