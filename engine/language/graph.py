"""The Play graph: the only networkx wrapper. Builds a DiGraph from a Play and checks it.

Kept narrow on purpose (dbt's ``graph/``, Hamilton's ``graph.py``): build the graph, find dangling
references, cycles (reported as ``a --> b --> a``), nodes unreachable from ``start`` and nodes from
which ``stop`` cannot be reached. Every finding is a coded Diagnostic pointing at the YAML.

Codes: GRAPH001 dangling reference, GRAPH002 unknown start, GRAPH003 cycle, GRAPH004 unreachable
node (warning), GRAPH005 no way to stop. (A node named ``stop`` is a schema error.)

One mistake, one report: a dangling reference counts as an exit (no GRAPH005) and as going to the
node it probably meant (that node and what follows it are not "unreachable"). For a Play built
leniently (`engine.language.lenient`), nodes with schema errors count as exits, their unreadable edges as
going to their probable targets, and an edge that cannot be read at all turns GRAPH004 off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import networkx as nx

from engine.diagnostics import Diagnostic, Suggester, error, name_list, warning
from engine.language.model import STOP, Play
from engine.language.vocab import NodeKind

if TYPE_CHECKING:
    from engine.language.lenient import Loose

Pos = Callable[..., tuple[int, int]]


def edges(play: Play) -> list[tuple[str, str, tuple, str]]:
    """(source, target, document path of the reference, label) for every edge of the Play."""
    out: list[tuple[str, str, tuple, str]] = []
    for node in play.nodes.values():
        if node.kind == NodeKind.BRANCH:
            for i, case in enumerate(node.cases):
                out.append((node.id, case.goto, case.path + ("goto",), f"case {i + 1}"))
            out.append((node.id, node.default, node.path + ("default",), "default"))
        else:
            out.append((node.id, node.next, node.path + ("next",), ""))
    return out


def build_graph(play: Play) -> nx.DiGraph:
    """A DiGraph of the Play: one vertex per node plus ``stop``; edges carry `labels` and `paths`.

    Edges to unknown nodes are left out (they are reported by `check`).
    """
    g = nx.DiGraph()
    g.add_node(STOP)
    for nid, node in play.nodes.items():
        g.add_node(nid, kind=str(node.kind))
    for src, dst, path, label in edges(play):
        if dst != STOP and dst not in play.nodes:
            continue
        if g.has_edge(src, dst):
            g[src][dst]["labels"].append(label)
            g[src][dst]["paths"].append(path)
        else:
            g.add_edge(src, dst, labels=[label], paths=[path])
    return g


def format_cycle(cycle: list[str]) -> str:
    """``["a", "b"]`` -> ``a --> b --> a``."""
    return " --> ".join(list(cycle) + [cycle[0]])


def _rotate(cycle: list[str], order: dict[str, int]) -> list[str]:
    """Start a cycle at its node that comes first in the file, so messages are stable."""
    i = min(range(len(cycle)), key=lambda k: order.get(cycle[k], 0))
    return cycle[i:] + cycle[:i]


def check(play: Play, pos: Pos, file: str, loose: "Loose | None" = None) -> list[Diagnostic]:
    """All graph problems of one Play. `pos(path, key=False)` gives a document position; `loose`
    describes a Play built leniently from a document with schema errors."""
    diags: list[Diagnostic] = []
    order = {nid: i for i, nid in enumerate(play.nodes)}
    known = list(play.nodes) + [STOP]
    opaque = loose.opaque if loose else frozenset()
    start_ok = loose.start_ok if loose else True

    suggest = Suggester(known)  # built once: asking it is linear in the name, not the Play (D-OPS-3)
    known_text = name_list(known)
    probable: list[tuple[str, str]] = []  # (source, target) of edges that probably exist
    if loose:
        probable += [(src, dst) for src, dsts in loose.probable.items() for dst in dsts]
    for src, dst, path, _label in edges(play):
        if dst != STOP and dst not in play.nodes:
            hint = suggest.hint(dst)
            if hint:
                probable.append((src, _suggested(hint)))
            diags.append(error("GRAPH001", file, pos(path), f"node '{src}' goes to unknown node '{dst}'",
                               hint or f"known nodes: {known_text}"))
    start_known = play.start in play.nodes
    if not start_known and play.start != STOP and start_ok:
        hint = Suggester(play.nodes).hint(play.start)
        diags.append(error("GRAPH002", file, pos(("start",)), f"start node '{play.start}' does not exist",
                           hint or f"known nodes: {name_list(play.nodes)}"))

    g = build_graph(play)
    # A dangling reference is already an error (GRAPH001), a node with a schema error too: for the
    # 'reaches stop' question treat them as exits, so one mistake is reported once.
    exits = g.copy()
    for src, dst, _path, _label in edges(play):
        if dst != STOP and dst not in play.nodes:
            exits.add_edge(src, STOP)
    for nid in opaque:
        exits.add_edge(nid, STOP)
    can_stop = nx.ancestors(exits, STOP) | {STOP}

    cyclic: set[str] = set()
    for comp in sorted(nx.strongly_connected_components(g), key=lambda c: min(order.get(n, 0) for n in c)):
        members = set(comp)
        only = next(iter(members))
        if len(members) == 1 and not g.has_edge(only, only):
            continue
        sub = g.subgraph(members)
        cycle = _rotate(next(iter(nx.simple_cycles(sub))), order)
        cyclic |= members
        # point at the reference that closes the loop (last node -> first node)
        path = g[cycle[-1]][cycle[0]]["paths"][0]
        trapped = not (members & can_stop)
        hint = ("this loop never reaches 'stop'; " if trapped else "") + \
            "a Play is a directed acyclic graph (D-PLAY-1): end the path with 'stop'"
        diags.append(error("GRAPH003", file, pos(path), f"cycle: {format_cycle(cycle)}", hint))

    if start_known:
        likely = g.copy()
        likely.add_edges_from((s, d) for s, d in probable if d in play.nodes)
        reachable = nx.descendants(likely, play.start) | {play.start}
        lost = loose is not None and bool(loose.unknown & reachable)  # an edge nobody can read
        for nid in play.nodes:
            if nid not in reachable:
                if lost:
                    continue
                diags.append(warning("GRAPH004", file, pos(("nodes", nid), key=True),
                                     f"node '{nid}' is unreachable from start '{play.start}'",
                                     "remove it, or reference it with goto/next"))
            elif nid not in can_stop and nid not in cyclic:
                diags.append(error("GRAPH005", file, pos(("nodes", nid), key=True),
                                   f"node '{nid}' has no way to reach stop",
                                   "every path leads into a loop; give it a way to 'stop'"))
    return diags


def _suggested(hint: str | None) -> str:
    """The name in a "did you mean 'x'?" hint."""
    return hint[len("did you mean '"):-2] if hint else ""


def reachable_nodes(play: Play) -> set[str]:
    """Node ids reachable from ``start`` (``stop`` excluded)."""
    if play.start not in play.nodes:
        return set()
    g = build_graph(play)
    return (nx.descendants(g, play.start) | {play.start}) - {STOP}


def topological_order(play: Play) -> list[str]:
    """Node ids in an order where each node comes before the nodes it leads to (acyclic Plays)."""
    g = build_graph(play)
    g.remove_node(STOP)
    order = {nid: i for i, nid in enumerate(play.nodes)}
    return list(nx.lexicographical_topological_sort(g, key=order.__getitem__))
