"""Benchmark: drawing Plays with our own layout and SVG renderer (no Graphviz), and generating the
docs site.

Measures, in one run: the time to draw each example Play as SVG (layout + render, the integration
and CRM snapshots applied), the time to lay out generated Plays of growing size (a branch every
few nodes, labelled edges) with the crossings left after ordering, and `plays docs generate` on the
example workspace (Play tests run, every page written) in-process.

Run: .venv/bin/python bench/pictures.py [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli.site import generate  # noqa: E402
from engine.language.layout import Box, Link, layout  # noqa: E402
from engine.language.render_graph import node_notes  # noqa: E402
from engine.language.svg import play_svg  # noqa: E402
from engine.workspace import load_workspace  # noqa: E402


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def generated(n: int, seed: int = 7) -> tuple[list[Box], list[Link]]:
    """A Play-like DAG: each node goes to one or two of the next eight, a third of edges labelled."""
    rnd = random.Random(seed)
    boxes = [Box(f"n{i}", rnd.choice([180, 240, 300]), rnd.choice([60, 110, 160])) for i in range(n)]
    links = []
    for i in range(1, n):
        for _ in range(rnd.choice([1, 1, 2])):
            src = rnd.randrange(max(0, i - 8), i)
            links.append(Link(f"n{src}", f"n{i}", (200, 38) if rnd.random() < 0.33 else None))
    return boxes, links


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    ws = load_workspace([str(ROOT / "plays")])
    print(f"{'what':<48} {'time':>10} {'detail':>24}")
    draw_ms = []
    for pid, play in sorted(ws.plays.items()):
        notes = node_notes(ws.play_docs[pid].data)
        secs = best(lambda: play_svg(play, ws.integration, ws.crm_objects, notes), args.rounds)
        draw_ms.append(secs * 1000)
        print(f"{'draw ' + pid:<48} {secs * 1000:>8.1f}ms {len(play.nodes):>18} nodes")
    sizes = {}
    for n in (10, 50, 200):
        boxes, links = generated(n)
        lay = None

        def run() -> None:
            nonlocal lay
            lay = layout(boxes, links)
        secs = best(run, args.rounds)
        sizes[n] = secs * 1000
        print(f"{f'layout {n} nodes, {len(links)} edges':<48} {secs * 1000:>8.1f}ms {lay.crossings:>14} crossings")
    with tempfile.TemporaryDirectory() as tmp:
        secs = best(lambda: generate([str(ROOT / "plays")], Path(tmp) / "site"), args.rounds)
        pages = len(list((Path(tmp) / "site").rglob("*.html")))
    print(f"{'plays docs generate (example workspace)':<48} {secs:>9.2f}s {pages:>18} pages")
    print(f"RESULT draw_example_ms_max={max(draw_ms):.1f} layout_200_nodes_ms={sizes[200]:.1f} "
          f"docs_generate_s={secs:.2f} pages={pages}")


if __name__ == "__main__":
    main()
