"""docs/first-play.md really works: every file it shows is written, every `console` block is run in
order in an empty folder with the installed `plays` (and the session's real Prefect server for
`plays run`), and each command's output must match what the page prints.

The page's conventions, read here:
- a fenced block whose info string has ``file=PATH`` is that file's content;
- ``<!-- tutorial: replace "A" "B" in PATH -->`` is an edit the reader makes (the text around it
  says so);
- in a ``console`` block, ``$ cmd`` lines are commands and the lines after them their output;
  a line that is only ``…`` stands for any number of lines, ``…`` inside a line for any text;
- ``sh`` blocks are not run (installing, git), but each ``plays`` command in them must exist with
  those options (it is run with ``--help``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "first-play.md"
PLAYS = Path(sys.executable).parent / "plays"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)
EDIT = re.compile(r'<!-- tutorial: replace "(?P<a>[^"]*)" "(?P<b>[^"]*)" in (?P<path>\S+) -->')


def steps(text: str) -> list[tuple[str, ...]]:
    """The page's files, edits, console and sh blocks, in order."""
    found = []
    for m in FENCE.finditer(text):
        info = m.group("info").split()
        file = next((x[5:] for x in info if x.startswith("file=")), None)
        if file:
            found.append((m.start(), "file", file, m.group("body")))
        elif info[:1] == ["console"]:
            found.append((m.start(), "console", m.group("body")))
        elif info[:1] == ["sh"]:
            found.append((m.start(), "sh", m.group("body")))
    for m in EDIT.finditer(text):
        found.append((m.start(), "edit", m.group("path"), m.group("a"), m.group("b")))
    return [s[1:] for s in sorted(found)]


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line match; a line `…` is any number of lines, `…` in a line any text."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "…":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = "^" + ".*".join(re.escape(part) for part in head.split("…")) + "$"
    return re.match(pattern, actual[0]) is not None and matches(rest, actual[1:])


def run(cmd: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    argv = shlex.split(cmd, comments=True)
    if argv[0] == "plays":
        argv[0] = str(PLAYS)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_page_has_every_step():
    kinds = [s[0] for s in steps(PAGE.read_text())]
    assert kinds.count("console") >= 7 and kinds.count("file") >= 4 and "edit" in kinds
    text = PAGE.read_text()
    for command in ("plays init", "plays validate", "plays plan", "plays test", "plays run", "plays validate --format github"):
        assert f"$ {command}" in text, command


def _has_init() -> bool:
    from cli.main import app

    return "init" in {c.name for c in app.registered_commands}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not _has_init(), reason="the tutorial starts with `plays init`, not in this build")
def test_first_play_tutorial(tmp_path, prefect_env):
    env = dict(prefect_env, COLUMNS="200", NO_COLOR="1", PLAYS_HOME=str(tmp_path / "home"))
    env.pop("PLAYS_DATABASE_URL", None)
    cwd = tmp_path
    ran = 0
    for step in steps(PAGE.read_text()):
        if step[0] == "file":
            path = cwd / step[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(step[2])
        elif step[0] == "edit":
            path, old, new = cwd / step[1], step[2], step[3]
            text = path.read_text()
            assert old in text, f"the page asks to replace {old!r} in {step[1]}, which does not hold it"
            path.write_text(text.replace(old, new))
        elif step[0] == "sh":
            for line in step[1].splitlines():
                if line.startswith("plays "):
                    done = run(line + " --help", cwd, env)
                    assert done.returncode == 0, f"{line}: {done.stderr}"
        else:
            blocks = re.split(r"^\$ ", step[1], flags=re.M)[1:]
            for block in blocks:
                cmd, *expected = block.rstrip("\n").split("\n")
                if cmd.startswith("cd "):
                    cwd = cwd / cmd[3:].strip()
                    continue
                done = run(cmd, cwd, env)
                ran += 1
                actual = (done.stdout + done.stderr).rstrip("\n").split("\n")
                assert matches(expected, actual), \
                    f"$ {cmd}\n--- the page says:\n" + "\n".join(expected) + "\n--- it printed:\n" + \
                    "\n".join(actual)
    assert ran >= 8
    assert os.path.exists(cwd / ".github" / "workflows" / "plays.yml")
