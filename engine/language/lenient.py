"""Lenient model building: a Play or integration with schema errors, built from its valid parts, so
the deeper checks still run where they can ("reports every problem, not the first").

A node whose own subtree has a schema error becomes *opaque*: it keeps its id and the edges that
can be read (a ``next``/``goto``/``default`` naming a node), and is left out of the content checks
(fields, templates, triggers, coverage). Edges hidden by the error are remembered as *probable*
targets (``nxt: mark`` probably goes to ``mark``), or, when nothing can be read, as *unknown*, so
the graph check does not report a consequence (an "unreachable" node) of a problem already
reported. A broken trigger or start turns off only the checks that need it.

For ``integration.yaml`` the broken keys are dropped and remembered as *uncertain*, so a check that
would only fire because a key was dropped (a missing default, a missing ``schema_file``, a CRM
block misspelt) stays quiet.

None of this is used to run Plays: the workspace's ``plays`` and ``integration`` stay the
error-free ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable

from engine.diagnostics import did_you_mean
from engine.language.model import STOP, Case, Integration, Node, Play, Trigger, build_integration, build_node, build_trigger
from engine.language.schema_check import Finding
from engine.language.vocab import Crm, NodeKind, TriggerType

_REF = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
CONTENT_KEYS = ("when", "fields", "properties", "default_values", "overwrite", "subject", "description", "object",
                "crm", "create", "due_in_days", "type")
EDGE_KEYS = ("next", "goto", "default")


@dataclass(frozen=True)
class Loose:
    """What the graph check must know about a Play built leniently."""

    opaque: frozenset[str] = frozenset()  # nodes with schema errors: graph only, counted as able to stop
    probable: dict[str, frozenset[str]] = field(default_factory=dict)  # node -> targets of unreadable edges
    unknown: frozenset[str] = frozenset()  # nodes with an edge whose target cannot be read at all
    start_ok: bool = True  # False: `start` is missing or broken (already reported)


@dataclass(frozen=True)
class PartialPlay:
    play: Play  # every node; opaque nodes carry only their edges
    loose: Loose
    trigger_ok: bool  # the trigger is schema-valid (trigger checks and branch coverage may run)

    @property
    def content(self) -> Play:
        """The Play restricted to its schema-valid nodes (for the per-node content checks)."""
        nodes = {nid: n for nid, n in self.play.nodes.items() if nid not in self.loose.opaque}
        return Play(self.play.id, self.play.trigger, self.play.start, MappingProxyType(nodes), self.play.file,
                    self.play.description, self.play.enabled)


def _broken(findings: Iterable[Finding]) -> tuple[set[tuple], set[tuple]]:
    """(paths with a problem, absorbed paths). An unknown or missing key marks its mapping, and the
    key it probably meant; a badly named key marks nothing (its content is fine)."""
    bad: set[tuple] = set()
    absorbed: set[tuple] = set()
    for f in findings:
        if f.what == "absorbed":
            absorbed.add(f.path)
        elif f.what == "keyname":
            continue
        elif f.what in ("unknown", "missing"):
            bad.add(f.path + (f.key,) if f.key else f.path)
            if f.suggest:
                bad.add(f.path + (f.suggest,))
            bad.add(f.path)
        else:
            bad.add(f.path)
    return bad, absorbed


def _under(path: tuple, bad: set[tuple]) -> bool:
    """Whether some problem lies at `path` or inside it."""
    n = len(path)
    return any(p[:n] == path for p in bad)


def build_partial_play(data: Any, findings: list[Finding], file: str) -> PartialPlay | None:
    """The Play as far as it can be read, or None when there is nothing to check (no nodes)."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        return None
    bad, absorbed = _broken(findings)
    raw_nodes: dict = {k: v for k, v in data["nodes"].items()
                       if ("nodes", k) not in absorbed and k != STOP}  # a node named `stop` is reported
    ids = list(raw_nodes)
    nodes: dict[str, Node] = {}
    opaque: set[str] = set()
    probable: dict[str, frozenset[str]] = {}
    unknown: set[str] = set()
    for nid, raw in raw_nodes.items():
        path = ("nodes", nid)
        if not _under(path, bad) and isinstance(raw, dict):
            nodes[nid] = build_node(nid, raw, path)
            continue
        node, maybe, lost = _opaque(nid, raw, ids, path)
        nodes[nid] = node
        opaque.add(nid)
        if maybe:
            probable[nid] = frozenset(maybe)
        if lost:
            unknown.add(nid)

    trigger_ok = not _under(("trigger",), bad) and isinstance(data.get("trigger"), dict)
    trigger = build_trigger(data["trigger"]) if trigger_ok else Trigger(type=TriggerType.SEQUENCE_ENROLLED)
    start = data.get("start")
    start_ok = not _under(("start",), bad) and isinstance(start, str)
    if not start_ok and isinstance(start, str):
        same = [n for n in nodes if n.lower() == start.lower()]
        if same:  # a badly formed id used the same way by the node and by start, or `Route` for `route`
            start, start_ok = same[0], True
    pid = data.get("play")
    play = Play(
        id=pid if isinstance(pid, str) else "",
        trigger=trigger,
        start=start if start_ok else "",
        nodes=MappingProxyType(nodes),
        file=file,
        description=data.get("description") if isinstance(data.get("description"), str) else "",
        enabled=data.get("enabled") is not False,
    )
    return PartialPlay(play, Loose(frozenset(opaque), probable, frozenset(unknown), start_ok), trigger_ok)


def _target(value: Any, ids: list[str]) -> tuple[str | None, str | None]:
    """(a readable edge target, a probable one) for the value of an edge key."""
    if not isinstance(value, str):
        return None, None
    if value in ids or (value == STOP) or _REF.match(value):
        return value, None
    hint = did_you_mean(value, ids)
    return None, (hint[len("did you mean '"):-2] if hint else None)


def _kind(raw: dict) -> tuple[NodeKind, bool]:
    """The node's kind, and whether it was only guessed (the `type` is missing or unknown)."""
    t = raw.get("type")
    if isinstance(t, str) and t in {k.value for k in NodeKind}:
        return NodeKind(t), False
    if "cases" in raw or "default" in raw:
        return NodeKind.BRANCH, True
    hint = did_you_mean(t, list(NodeKind)) if isinstance(t, str) else None
    return (NodeKind(hint[len("did you mean '"):-2]) if hint else NodeKind.SYNC_TO_SALESFORCE), True


def _opaque(nid: str, raw: Any, ids: list[str], path: tuple) -> tuple[Node, set[str], bool]:
    """An opaque node: (the node with its readable edges, probable targets, whether an edge is lost)."""
    if not isinstance(raw, dict):
        return Node(nid, NodeKind.SYNC_TO_SALESFORCE, path), set(), True
    kind, guessed = _kind(raw)
    maybe: set[str] = set()
    lost = False

    def edge(container: dict, key: str) -> str:
        nonlocal lost
        if key not in container:
            return STOP
        sure, guess = _target(container[key], ids)
        if sure is not None:
            return sure
        if guess:
            maybe.add(guess)
        else:
            lost = True
        return STOP

    def strays(container: dict) -> None:
        """Values of unknown keys that name a node (``nxt: mark``) are probable edges."""
        for k, v in container.items():
            if k in EDGE_KEYS or k in CONTENT_KEYS or k == "cases" or not isinstance(v, str):
                continue
            if v in ids:
                maybe.add(v)

    strays(raw)
    crm: Crm | None = None
    if not guessed and kind == NodeKind.SYNC_TO_SALESFORCE:
        crm = Crm.SALESFORCE
    elif not guessed and kind == NodeKind.SYNC_TO_HUBSPOT:
        crm = Crm.HUBSPOT
    elif not guessed and raw.get("crm") in ("salesforce", "hubspot"):
        crm = Crm(raw["crm"])
    if kind != NodeKind.BRANCH:
        return Node(nid, kind, path, next=edge(raw, "next"), crm=crm), maybe, lost
    items = raw.get("cases")
    if isinstance(items, dict):
        items = [items]  # a mapping where the list belongs: read it as one case
    if not isinstance(items, list):
        lost = True
        items = []
    cases = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "goto" not in item:
            lost = True
            if isinstance(item, dict):
                strays(item)
            continue
        strays(item)
        cases.append(Case((), edge(item, "goto"), path + ("cases", i)))
    has_default = "default" in raw
    return Node(nid, kind, path, cases=tuple(cases), default=edge(raw, "default"), has_default=has_default), \
        maybe, lost


# -- integration -------------------------------------------------------------------------------

CRMS = ("salesforce", "hubspot")
_MAPPINGS = ("default_values", "tracking_fields", "tracking_properties", "field_mappings_since", "owned_fields",
             "web_tag_domains")


@dataclass(frozen=True)
class PartialIntegration:
    integration: Integration
    uncertain: frozenset[tuple] = frozenset()  # paths dropped for errors, and keys probably meant


def is_uncertain(uncertain: frozenset[tuple], *path: str) -> bool:
    """Whether the integration setting at `path` (or a part above it) was dropped or may be misspelt."""
    return any(path[:i] in uncertain for i in range(1, len(path) + 1))


def build_partial_integration(data: Any, findings: list[Finding], file: str) -> PartialIntegration:
    """The integration settings without their broken keys (broken entries of a mapping or list only)."""
    if not isinstance(data, dict):
        return PartialIntegration(Integration(file=file), frozenset({(c,) for c in CRMS}))
    uncertain: set[tuple] = set()
    drop: dict[tuple, set] = {}  # container path -> keys (or list indexes) to leave out

    def leave_out(path: tuple) -> None:
        drop.setdefault(path[:-1], set()).add(path[-1])
        uncertain.add(path)

    for f in findings:
        p = f.path
        if f.what == "unknown" and f.key:
            leave_out(p + (f.key,))
            if f.suggest:
                uncertain.add(p + (f.suggest,))
        elif f.what == "missing" and f.key:
            uncertain.add(p + (f.key,))
        elif f.what == "keyname" and p:
            leave_out(p)
        elif len(p) >= 3 and p[1] in _MAPPINGS:
            leave_out(p[:3])  # one bad entry of a mapping or list: keep the others
        elif p:
            leave_out(p[:2])
    clean = _without(data, (), drop)
    for block in ("salesforce", "hubspot", "tracking"):
        if block in clean and not isinstance(clean[block], dict):
            clean.pop(block)
            uncertain.add((block,))
    return PartialIntegration(build_integration(clean, file), frozenset(uncertain))


def _without(value: Any, path: tuple, drop: dict[tuple, set]) -> Any:
    """A copy of `value` without the entries listed in `drop` (by the path of their container)."""
    gone = drop.get(path, set())
    if isinstance(value, dict):
        return {k: _without(v, path + (k,), drop) for k, v in value.items() if k not in gone}
    if isinstance(value, list):
        return [_without(v, path + (i,), drop) for i, v in enumerate(value) if i not in gone]
    return value
