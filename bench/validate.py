"""Benchmark: `plays validate` against `check-jsonschema` on the same 1,000 generated Play files,
in the same run. `plays validate` does more (YAML positions, schema, graph, vocabulary, templates,
field checks against the CRM snapshots, conflicts); the goal is to stay within 2x of a schema-only
validator. Both run as real console scripts in subprocesses (process start included), best of 3.

A second table: one big Play (2,500 and 10,000 nodes, every other `goto` dangling, so each of them
asks for a "did you mean") validated the same way; validate is linear in the size of a Play
(D-OPS-3), so 4x the nodes should take about 4x the time (`big_ratio`), not 16x.

Run: .venv/bin/python bench/validate.py [--files N] [--rounds R] [--nodes N]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TEMPLATES = [p for p in sorted((ROOT / "plays").glob("*.play.yaml"))]


def generate(folder: Path, n: int) -> list[Path]:
    """n Play files made from the examples (unique ids, a sequence filter each where the trigger
    has one, so they do not all conflict), plus integration.yaml and the CRM snapshots."""
    shutil.copytree(ROOT / "plays" / "crm", folder / "crm")
    shutil.copy(ROOT / "plays" / "integration.yaml", folder / "integration.yaml")
    texts = [(p.stem.removesuffix(".play"), p.read_text()) for p in TEMPLATES]
    files = []
    for i in range(n):
        name, text = texts[i % len(texts)]
        new_id = f"{name}-{i:04d}"
        text = text.replace(f"play: {name}", f"play: {new_id}", 1)
        if any(f"type: {t}" in text for t in ("sequence_status_changed", "reply_classified", "sequence_enrolled")):
            text = text.replace("trigger:\n", f"trigger:\n  sequences: [Sequence {i}]\n", 1)
        path = folder / f"{new_id}.play.yaml"
        path.write_text(text)
        files.append(path)
    return files


def big_play(folder: Path, nodes: int) -> Path:
    """One Play of `nodes` branch nodes in a chain, every other `goto` to a node that does not exist."""
    shutil.copytree(ROOT / "plays" / "crm", folder / "crm", dirs_exist_ok=True)
    shutil.copy(ROOT / "plays" / "integration.yaml", folder / "integration.yaml")
    lines = [f"play: big-{nodes}", "trigger:", "  type: reply_classified", "start: n0", "nodes:"]
    for i in range(nodes):
        target = "stop" if i + 1 == nodes else f"n{i + 1}" if i % 2 == 0 else f"missing_{i}"
        lines += [f"  n{i}:", "    type: branch", "    cases:", "      - when: {reply_classification: Positive}",
                  f"        goto: {target}", "    default: stop"]
    path = folder / f"big-{nodes}.play.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _children_cpu() -> float:
    """CPU seconds used by finished child processes (steadier than wall time on a busy machine)."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def timed(cmd: list[str], cwd: Path, rounds: int) -> tuple[float, subprocess.CompletedProcess]:
    best, last = float("inf"), None
    for _ in range(rounds):
        t0 = time.perf_counter()
        last = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
    return best, last


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "plays"
        folder.mkdir()
        files = generate(folder, args.files)
        names = [f.name for f in files]
        plays_s, plays_run = timed([str(BIN / "plays"), "validate", "."], folder, args.rounds)
        cj_s, cj_run = timed([str(BIN / "check-jsonschema"), "--schemafile", str(ROOT / "schemas" / "play.schema.json"),
                              *names], folder, args.rounds)
        json_s, json_run = timed([str(BIN / "plays"), "validate", "--format", "json", "."], folder, 1)
        big: dict[int, float] = {}
        big_cpu: dict[int, float] = {}
        for nodes in (args.nodes // 4, args.nodes):
            sub = Path(tmp) / f"big{nodes}"
            sub.mkdir()
            path = big_play(sub, nodes)
            before = _children_cpu()
            big[nodes], big_run = timed([str(BIN / "plays"), "validate", path.name], sub, 1)
            big_cpu[nodes] = _children_cpu() - before
            if big_run.returncode != 1:  # the dangling references are errors
                print(big_run.stdout[-2000:], big_run.stderr[-2000:])
                print("RESULT ok=false")
                return 1
    summary = plays_run.stdout.strip().splitlines()[-1] if plays_run.stdout.strip() else "(no output)"
    if plays_run.returncode != 0 or cj_run.returncode != 0:
        print(plays_run.stdout[-2000:], plays_run.stderr[-2000:], cj_run.stdout[-2000:], cj_run.stderr[-2000:])
        print("RESULT ok=false")
        return 1
    errors = json.loads(json_run.stdout)["errors"]
    ratio = plays_s / cj_s
    print(f"{'tool':<34}{'files':>7}{'seconds':>10}{'ms/file':>10}")
    print(f"{'plays validate (all checks)':<34}{args.files:>7}{plays_s:>10.2f}{plays_s / args.files * 1000:>10.2f}")
    print(f"{'check-jsonschema (schema only)':<34}{args.files:>7}{cj_s:>10.2f}{cj_s / args.files * 1000:>10.2f}")
    print(f"plays validate said: {summary}")
    print(f"ratio plays/check-jsonschema: {ratio:.2f}x (goal <= 2x)")
    print()
    print(f"{'one big Play':<34}{'nodes':>7}{'seconds':>10}{'cpu s':>10}{'ms/node':>10}")
    for nodes, secs in big.items():
        print(f"{'plays validate (half dangling)':<34}{nodes:>7}{secs:>10.2f}{big_cpu[nodes]:>10.2f}"
              f"{secs / nodes * 1000:>10.3f}")
    small, large = big[args.nodes // 4], big[args.nodes]
    big_ratio = big_cpu[args.nodes] / big_cpu[args.nodes // 4]
    print(f"4x the nodes took {big_ratio:.2f}x the CPU time (linear: about 4x, quadratic: 16x)")
    print(f"RESULT files={args.files} plays_s={plays_s:.2f} check_jsonschema_s={cj_s:.2f} ratio={ratio:.2f} "
          f"errors={errors} goal_met={'true' if ratio <= 2 else 'false'} big_nodes={args.nodes} "
          f"big_s={large:.2f} big_cpu_s={big_cpu[args.nodes]:.2f} big_ratio={big_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
