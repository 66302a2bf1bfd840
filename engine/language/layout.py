"""Layered layout of a directed graph, for the pictures of Plays (`engine.language.svg` draws it).

The Sugiyama recipe, kept small:

1. ranks: networkx's topological generations (longest path from the sources) on every other rank;
   a cycle in a broken Play is drawn with the edge that closes it reversed;
2. a dummy vertex on every rank an edge crosses; an edge's label is a dummy as large as the label,
   on the rank just below the edge's source, so labels never overlap boxes or each other;
3. barycentre ordering sweeps (down and up), keeping the order with the fewest crossings;
4. x positions pulled towards each vertex's neighbours without overlaps: per rank, the least-squares
   positions that keep the order and the gaps (isotonic regression, pool-adjacent-violators);
5. routes: from the source's bottom edge through its dummies to the target's top edge, the ports of
   a box spread along its edge in the order of the routes' far ends.

Pure and deterministic: the same graph in the same order gives the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

import networkx as nx

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A vertex to place, with its size."""

    id: str
    width: float
    height: float


@dataclass(frozen=True)
class Link:
    """An edge to route; `label` is the (width, height) of its label box, if it has one."""

    src: str
    dst: str
    label: tuple[float, float] | None = None


@dataclass(frozen=True)
class Placed:
    """A placed box: (x, y) is its centre."""

    id: str
    x: float
    y: float
    width: float
    height: float

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2


@dataclass(frozen=True)
class Route:
    """An edge's polyline from source to target, and the centre of its label (if any)."""

    link: Link
    points: tuple[Point, ...]
    label_at: Point | None = None


@dataclass
class Layout:
    boxes: dict[str, Placed]
    routes: list[Route]  # in the order of the links given
    width: float
    height: float
    crossings: int = 0
    ranks: dict[str, int] = field(default_factory=dict)  # the rank of each box (0 = top, even numbers)


@dataclass
class _Vertex:
    key: Hashable
    width: float
    height: float
    rank: int = 0
    dummy: bool = False
    x: float = 0.0


def _back_edges(ids: list[str], links: list[Link]) -> set[int]:
    """Indexes of links that close a cycle (depth-first from each vertex in the given order)."""
    out: dict[str, list[tuple[int, str]]] = {i: [] for i in ids}
    for k, link in enumerate(links):
        out[link.src].append((k, link.dst))
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[int] = set()
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, it = stack[-1]
            step = next(it, None)
            if step is None:
                state[node] = 2
                stack.pop()
                continue
            k, nxt = step
            if state.get(nxt) == 1:
                back.add(k)
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(out[nxt])))
    return back


def _isotonic(desired: list[float], weights: list[float], offsets: list[float]) -> list[float]:
    """Least-squares x with x[i+1] - x[i] >= offsets[i+1] - offsets[i] (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for d, w, o in zip(desired, weights, offsets):
        blocks.append([(d - o) * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, wt, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += wt
            blocks[-1][2] += n
    xs: list[float] = []
    for s, wt, n in blocks:
        xs.extend([s / wt] * n)
    return [x + o for x, o in zip(xs, offsets)]


def _crossings_between(upper: list[_Vertex], lower_pos: dict[Hashable, int],
                       adj: dict[Hashable, list[Hashable]]) -> int:
    pairs = [(i, lower_pos[t]) for i, v in enumerate(upper) for t in adj[v.key] if t in lower_pos]
    count = 0
    for a in range(len(pairs)):
        ua, la = pairs[a]
        for b in range(a + 1, len(pairs)):
            ub, lb = pairs[b]
            if (ua - ub) * (la - lb) < 0:
                count += 1
    return count


def layout(boxes: list[Box], links: list[Link], *, node_gap: float = 32, dummy_gap: float = 14,
           rank_gap: float = 22, margin: float = 16, sweeps: int = 8) -> Layout:
    """Place `boxes` on ranks, top to bottom, and route `links` between them."""
    ids = [b.id for b in boxes]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate box ids")
    known = set(ids)
    for link in links:
        if link.src not in known or link.dst not in known:
            raise ValueError(f"link {link.src} -> {link.dst} names an unknown box")

    # 1. ranks: generations of the graph with the closing edge of every cycle reversed
    back = _back_edges(ids, [l for l in links])
    oriented: list[tuple[str, str]] = []
    for k, link in enumerate(links):
        if link.src == link.dst:
            oriented.append((link.src, link.dst))
        elif k in back:
            oriented.append((link.dst, link.src))
        else:
            oriented.append((link.src, link.dst))
    g = nx.DiGraph()
    g.add_nodes_from(ids)
    g.add_edges_from((a, b) for a, b in oriented if a != b)
    verts: dict[Hashable, _Vertex] = {b.id: _Vertex(b.id, b.width, b.height) for b in boxes}
    for gen, members in enumerate(nx.topological_generations(g)):
        for m in members:
            verts[m].rank = 2 * gen

    # 2. dummies: chains[k] = the vertex keys link k passes, from its oriented source to its target
    succ: dict[Hashable, list[Hashable]] = {k: [] for k in verts}
    pred: dict[Hashable, list[Hashable]] = {k: [] for k in verts}
    chains: list[list[Hashable]] = []
    label_of: dict[int, Hashable] = {}
    for k, (link, (a, b)) in enumerate(zip(links, oriented)):
        if a == b:
            chains.append([a])
            continue
        chain: list[Hashable] = [a]
        ra, rb = verts[a].rank, verts[b].rank
        label_rank = ra + 1 if k not in back else rb - 1
        for r in range(ra + 1, rb):
            key = ("~", k, r)
            w, h = link.label if (link.label and r == label_rank) else (0.0, 0.0)
            verts[key] = _Vertex(key, w, h, r, True)
            succ[key], pred[key] = [], []
            if link.label and r == label_rank:
                label_of[k] = key
            chain.append(key)
        chain.append(b)
        for u, v in zip(chain, chain[1:]):
            succ[u].append(v)
            pred[v].append(u)
        chains.append(chain)

    # 3. ordering
    max_rank = max((v.rank for v in verts.values()), default=0)
    layers: list[list[_Vertex]] = [[] for _ in range(max_rank + 1)]
    seen: set[Hashable] = set()
    first = {key: i for i, key in enumerate(verts)}
    for key in verts:  # initial order: depth first from the boxes in the order given
        stack = [key]
        while stack:
            cur = stack.pop()
            if cur in seen:
                continue
            seen.add(cur)
            layers[verts[cur].rank].append(verts[cur])
            stack.extend(reversed(succ[cur]))
    order_pos = {v.key: i for layer in layers for i, v in enumerate(layer)}

    def crossings(ls: list[list[_Vertex]]) -> int:
        total = 0
        for r in range(len(ls) - 1):
            lower = {v.key: i for i, v in enumerate(ls[r + 1])}
            total += _crossings_between(ls[r], lower, succ)
        return total

    def reorder(ls: list[list[_Vertex]], r: int, nbrs: dict[Hashable, list[Hashable]], adj_rank: int) -> None:
        pos = {v.key: i for i, v in enumerate(ls[adj_rank])}
        keyed = []
        for i, v in enumerate(ls[r]):
            ps = [pos[n] for n in nbrs[v.key] if n in pos]
            keyed.append((sum(ps) / len(ps) if ps else float(i), i, v))
        keyed.sort(key=lambda t: (t[0], t[1]))
        ls[r] = [v for _b, _i, v in keyed]

    best = [list(layer) for layer in layers]
    best_count = crossings(best)
    cur = [list(layer) for layer in layers]
    for _ in range(sweeps if best_count else 0):
        for r in range(1, len(cur)):
            reorder(cur, r, pred, r - 1)
        for r in range(len(cur) - 2, -1, -1):
            reorder(cur, r, succ, r + 1)
        count = crossings(cur)
        if count < best_count:
            best, best_count = [list(layer) for layer in cur], count
        if best_count == 0:
            break
    layers = best
    del order_pos, first

    # 4. x positions
    def gap(a: _Vertex, b: _Vertex) -> float:
        return (a.width + b.width) / 2 + (dummy_gap if (a.dummy and b.dummy and not a.width and not b.width)
                                          else node_gap if not (a.dummy or b.dummy) else (node_gap + dummy_gap) / 2)

    offsets_of: list[list[float]] = []
    for layer in layers:
        offs, acc = [], 0.0
        for i, v in enumerate(layer):
            if i:
                acc += gap(layer[i - 1], v)
            offs.append(acc)
        offsets_of.append(offs)
        for v, o in zip(layer, offs):
            v.x = o - acc / 2

    def place(r: int, use_pred: bool, use_succ: bool) -> None:
        layer = layers[r]
        if not layer:
            return
        desired, weights = [], []
        for v in layer:
            ns = (pred[v.key] if use_pred else []) + (succ[v.key] if use_succ else [])
            if ns:
                desired.append(sum(verts[n].x for n in ns) / len(ns))
                weights.append(len(ns) * (2.0 if v.dummy else 1.0))
            else:
                desired.append(v.x)
                weights.append(0.25)
        for v, x in zip(layer, _isotonic(desired, weights, offsets_of[r])):
            v.x = x

    for _ in range(6):
        for r in range(1, len(layers)):
            place(r, True, False)
        for r in range(len(layers) - 2, -1, -1):
            place(r, False, True)
    for _ in range(3):
        for r in range(len(layers)):
            place(r, True, True)

    # y: every rank as tall as its tallest vertex
    heights = [max((v.height for v in layer), default=0.0) for layer in layers]
    tops, y = [], margin
    for r, h in enumerate(heights):
        tops.append(y)
        y += h + rank_gap
    height = y - rank_gap + margin
    left = min((v.x - v.width / 2 for v in verts.values()), default=0.0)
    loop_room = 28.0 if any(l.src == l.dst for l in links) else 0.0
    right = max((v.x + v.width / 2 for v in verts.values()), default=0.0) + loop_room
    shift = margin - left
    width = right - left + 2 * margin

    def centre(v: _Vertex) -> Point:  # boxes hang from the top of their rank; labels sit in the middle
        return (v.x + shift, tops[v.rank] + (v.height / 2 if not v.dummy else heights[v.rank] / 2))

    placed = {b.id: Placed(b.id, *centre(verts[b.id]), b.width, b.height) for b in boxes}

    # 5. routes, with ports spread along each box's bottom (out) and top (in) edge
    out_ports: dict[str, list[int]] = {i: [] for i in ids}
    in_ports: dict[str, list[int]] = {i: [] for i in ids}
    for k, chain in enumerate(chains):
        if len(chain) > 1:
            out_ports[chain[0]].append(k)
            in_ports[chain[-1]].append(k)

    def port_x(box: str, k: int, ports: dict[str, list[int]], far: Hashable) -> float:
        p = placed[box]
        ks = sorted(ports[box], key=lambda j: (centre(verts[chains[j][1 if ports is out_ports else -2]])[0], j))
        n = len(ks)
        if n == 1:
            return p.x
        step = min(18.0, p.width * 0.6 / (n - 1))
        return p.x + (ks.index(k) - (n - 1) / 2) * step

    routes: list[Route] = []
    for k, (link, chain) in enumerate(zip(links, chains)):
        if len(chain) == 1:  # a node that goes to itself: a loop on its right
            p = placed[link.src]
            r = p.x + p.width / 2
            pts: tuple[Point, ...] = ((r, p.y - 8), (r + 22, p.y - 8), (r + 22, p.y + 8), (r, p.y + 8))
            routes.append(Route(link, pts, (r + 22, p.y) if link.label else None))
            continue
        a, b = chain[0], chain[-1]
        pa, pb = placed[a], placed[b]
        sx = port_x(a, k, out_ports, chain[1])
        pts_l: list[Point] = [(sx, pa.y + pa.height / 2)]
        ra = verts[a].rank
        if pa.y + pa.height / 2 < tops[ra] + heights[ra] - 0.5:  # a box shorter than its rank: straight down
            pts_l.append((sx, tops[ra] + heights[ra]))          # first, clear of its taller neighbours
        direct = len(chain) == 3 and k not in label_of  # one rank between: one smooth curve
        for key in ([] if direct else chain[1:-1]):
            v = verts[key]
            x = v.x + shift
            pts_l.append((x, tops[v.rank]))
            pts_l.append((x, tops[v.rank] + heights[v.rank]))
        pts_l.append((port_x(b, k, in_ports, chain[-2]), pb.y - pb.height / 2))
        label_at = None
        if k in label_of:
            lv = verts[label_of[k]]
            label_at = (lv.x + shift, tops[lv.rank] + heights[lv.rank] / 2)
        if k in back:
            pts_l.reverse()
        routes.append(Route(link, tuple(pts_l), label_at))
    ranks = {b.id: verts[b.id].rank for b in boxes}
    return Layout(placed, routes, width, height, best_count, ranks)
