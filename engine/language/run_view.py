"""What the runtime shows of a Play: its Prefect deployment's description with a link to its page
in the docs site, and a run summary's path through the Play (step, contacts reached, what was done
there). Pure text (markdown), from the picture model of `engine.language.render_graph`."""

from __future__ import annotations

import base64
from typing import Any, Mapping

from engine.language.graph import topological_order
from engine.language.metadata import ObjectSchema
from engine.language.model import Integration, Play
from engine.language.render_graph import NBSP, diagram, trigger_sentence
from engine.language.svg import render
from engine.language.vocab import NodeKind

DOCS_PAGE = "plays/{id}.html"  # a Play's page in the docs site (`plays docs generate`)


def docs_page_url(play_id: str, base: str) -> str:
    """The URL of a Play's page in a docs site served or published at `base`."""
    return base.rstrip("/") + "/" + DOCS_PAGE.format(id=play_id)


def deployment_description(play: Play, docs_base: str | None) -> str:
    """A Play's description for its Prefect deployment, with a link to its docs page (markdown)."""
    text = play.description or f"Play {play.id}"
    if docs_base:
        text += f"\n\n[Picture, tests and fields of this Play]({docs_page_url(play.id, docs_base)})"
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace(NBSP, " ")


def run_path_markdown(play: Play, events: int, rows: Mapping[str, list[Mapping[str, Any]]],
                      docs_url: str | None = None, picture: bool = False, integration: Integration | None = None,
                      objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None) -> str:
    """The path a run's events took through a Play, as a markdown table for a run summary: one row
    per step in graph order, what it is, the contacts that reached it (the emails of its writes, kept
    values, skipped records and activities; a branch: those of the steps after it), and what was
    done there; with `picture`, the Play's picture too (a data-URI SVG image: each step reached
    carries its count, the others are faded; `integration` and `objects` say owned / picklist). `rows`: ``writes`` / ``kept`` / ``skipped`` / ``activities`` rows with ``play``,
    ``node``, ``email`` (and ``field`` for writes). Rows of other Plays are ignored."""
    d = diagram(play, integration, objects)
    shapes = {s.id: s for s in d.shapes}
    per: dict[str, dict[str, Any]] = {nid: {"emails": set(), "records": set(), "fields": 0, "kept": 0,
                                            "skipped": 0, "activities": 0} for nid in play.nodes}
    for kind in ("writes", "kept", "skipped", "activities"):
        for r in rows.get(kind) or ():
            nid = r.get("node")
            if r.get("play") not in (None, play.id) or nid not in per:
                continue
            p = per[nid]
            if r.get("email"):
                p["emails"].add(str(r["email"]).strip().lower())
            if kind == "writes":
                p["records"].add((r.get("crm"), r.get("object"), r.get("record") or r.get("email")))
                p["fields"] += len(r.get("fields") or ()) if isinstance(r.get("fields"), Mapping) else 1
            else:
                p[kind] += 1
    try:
        order = topological_order(play)
    except Exception:  # noqa: BLE001 - a broken graph: file order
        order = list(play.nodes)
    reached: dict[str, set] = {}
    for nid in reversed(order):
        seen = set(per[nid]["emails"])
        if play.nodes[nid].kind == NodeKind.BRANCH:
            for nxt in play.nodes[nid].successors():
                seen |= reached.get(nxt, set())
        reached[nid] = seen
    lines = [f"## The path through {play.id}", ""]
    if play.description:
        lines += [_md(play.description), ""]
    lines += [f"**{_md(' '.join(trigger_sentence(play)))}**: {events} event{'s' if events != 1 else ''} "
              "in this run.", ""]
    if picture:
        badges = {"__trigger": f"{events} event{'s' if events != 1 else ''}"}
        badges.update({nid: f"{len(r)} contact{'s' if len(r) != 1 else ''}" for nid, r in reached.items() if r})
        svg = render(d, prefix=play.id + "-run", badges=badges)[0]
        data = base64.b64encode(svg.encode()).decode()
        lines += [f"![{_md(play.id)}: the steps this run's contacts reached](data:image/svg+xml;base64,{data})", ""]
    lines += ["| step | what it does | contacts reached | done there |", "|---|---|---:|---|"]
    for nid in order:
        s, p = shapes[nid], per[nid]
        what = s.subtitle if s.kind != "branch" else "Branch"
        done = []
        if p["records"]:
            done.append(f"{len(p['records'])} record{'s' if len(p['records']) != 1 else ''} written "
                        f"({p['fields']} field{'s' if p['fields'] != 1 else ''})")
        for k, word in (("kept", "kept (not blank)"), ("skipped", "skipped"), ("activities", "activities")):
            if p[k]:
                done.append(f"{p[k]} {word}")
        if s.kind == "branch":
            done = [f"→ {dst} {len(reached.get(dst, ()))}" for dst in dict.fromkeys(play.nodes[nid].successors())
                    if dst in play.nodes]
        lines.append(f"| `{nid}` | {_md(what)} | {len(reached[nid])} | {'; '.join(done) or '—'} |")
    if docs_url:
        lines += ["", f"Picture, tests and fields of this Play: [{docs_url}]({docs_url})"]
    return "\n".join(lines) + "\n"
