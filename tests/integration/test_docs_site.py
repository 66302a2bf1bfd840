"""`plays docs generate` / `plays docs serve`, checked in a real browser (headless Chromium).

One site is generated for the module, from a copy of the example workspace plus a draft Play with
problems and a failing Play test. Chromium loads the pages (``--dump-dom``: the DOM after the
browser parsed it) and the tests check: each Play, node and field is there; the picture has a box
per graph node and an arrow per reference (each branch case, each default, each `next`); Play test
results and diagnostics are shown, each code linked to its explanation; every link of every page
resolves (the file exists, the anchor exists). `serve` is fetched over HTTP. A screenshot of a Play
page is written for people to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.language.graph import edges
from engine.workspace import load_workspace
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                    "(apt-get install chromium; .ci/run installs it)")

DRAFT = """play: draft-title
description: "A draft with problems, to show them on the site <script>alert(1)</script> & co"
trigger: {type: sequence_enrolled}
start: set_title
nodes:
  set_title:
    type: sync_to_salesforce
    object: Lead
    fields: {Titel: CEO}
  orphan:
    type: sync_to_salesforce
    object: Lead
    fields: {Title: CTO}
"""

FAILING_TEST = """test: enrolled Leads become Qualified (wrong on purpose)
play: enrolled-contacted
crm:
  salesforce:
    Lead:
      - {Id: L1, Email: ann@acme.io, LastName: Lee, Company: Acme, Status: null, LastModifiedDate: "2026-11-01T00:00:00Z"}
events:
  - {id: e1, type: sequence_enrolled, at: "2026-11-20T10:00:00Z", sequence: Q4, contact: {email: ann@acme.io}}
expect:
  writes:
    - {crm: salesforce, object: Lead, record: L1, fields: {Status: Qualified}}
"""


class _Dom(HTMLParser):
    """Elements (tag, attributes) and text of an HTML document."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.chunks))

    def having(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[dict[str, str]]:
        out = []
        for t, a in self.elements:
            if tag and t != tag or cls and cls not in a.get("class", "").split():
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(a)
        return out

    @property
    def ids(self) -> set[str]:
        return {a["id"] for _t, a in self.elements if "id" in a}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("docs-site")
    shutil.copytree(ROOT / "plays", work / "plays")
    (work / "plays" / "draft-title.play.yaml").write_text(DRAFT)
    (work / "plays" / "enrolled-contacted.wrong.test.yaml").write_text(FAILING_TEST)
    out = work / "site"
    old = os.getcwd()
    os.chdir(work)
    try:
        result = CliRunner().invoke(app, ["docs", "generate", "plays/", "--out", str(out)])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert re.search(r"\d+/\d+ Play tests passed", result.stdout)
    ws = load_workspace([str(work / "plays")])
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    wanted = ["index.html", "fields.html", "integration.html", "diagnostics.html", "docs/diagnostics.html"] + \
        [f"plays/{p.id}.html" for p in ws.built.values()]
    doms = _browse(out, wanted) if CHROMIUM else {}
    return {"work": work, "out": out, "ws": ws, "pages": pages, "dom": doms}


def _dump(url: str, profile: Path) -> str:
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _browse(out: Path, pages: list[str]) -> dict[str, _Dom]:
    """Each page as Chromium parsed it (two browsers at a time)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = pool.map(lambda ip: _dump((out / ip[1]).as_uri(), out.parent / f"profile-{ip[0] % 2}-{ip[0]}"),
                         enumerate(pages))
        return {page: _Dom(text) for page, text in zip(pages, texts)}


@needs_chromium
def test_the_index_lists_every_play_with_its_trigger_tests_and_writes(site):
    dom = site["dom"]["index.html"]
    for play in site["ws"].built.values():
        assert dom.having("a", href=f"plays/{play.id}.html"), play.id
        assert play.description in dom.text
        row = dom.having("tr", data_play=play.id)
        assert row, play.id
    assert "When a contact's sequence status changes to Completed: Replied" in dom.text
    assert "Lead.Status" in dom.text and "contacts.hs_lead_status" in dom.text
    row = (site["out"] / "index.html").read_text().split('data-play="enrolled-contacted"')[1].split("</tr>")[0]
    assert 'class="chip fail"' in row and "/4 passed" in row  # enrolled-contacted with the failing test
    assert "<script>alert(1)</script> & co" in dom.text  # user text is text, never markup
    assert not dom.having("script")
    assert "modified, not committed" in dom.text or "UTC" in dom.text


@needs_chromium
def test_each_play_page_draws_every_node_and_every_reference(site):
    for play in site["ws"].built.values():
        dom = site["dom"][f"plays/{play.id}.html"]
        svg = dom.having("svg", data_play=play.id)
        assert len(svg) == 1, play.id
        boxes = [a["data-node"] for a in dom.having("g", cls="node")]
        assert set(boxes) == set(play.nodes) | {"__trigger", "__stop"}, play.id
        assert sorted(b for b in boxes if b != "__stop") == sorted([*play.nodes, "__trigger"])
        arrows = dom.having("path", cls="edge")
        refs = edges(play)
        assert len(arrows) == len(refs) + 1  # + the start
        for src, dst, _path, label in refs:
            assert any(a["data-from"] == src and (a["data-to"] == dst or dst == "stop" and
                                                 a["data-to"].startswith("__stop")) for a in arrows), (src, dst)
        cases = [r for r in refs if r[3].startswith("case ")]
        assert len(dom.having("g", cls="edge-label")) == len(cases) + sum(r[3] == "default" for r in refs)
        for node in play.nodes.values():
            for name in node.fields:
                assert dom.having("g", cls="write", data_field=name), (play.id, name)
                assert dom.having("tr", data_node=node.id, data_field=name), (play.id, name)


@needs_chromium
def test_branch_conditions_and_write_modes_are_in_words(site):
    dom = site["dom"]["plays/replied-to-lead-status.html"]
    text = dom.text
    assert "reply classification is Willing to meet or Positive" in text  # label lines joined
    assert "otherwise" in text and "Pick the Lead Status from the reply classification" in text
    assert {a["data-mode"] for a in dom.having("g", cls="write", data_field="Status")} == {"if blank"}
    assert {a["data-mode"] for a in dom.having("g", cls="write", data_field="Unify_Most_Recent_Play__c")} == {"owned"}
    assert "(default Neutral)" in text and "from the integration default" in text


@needs_chromium
def test_play_tests_run_and_their_results_are_shown(site):
    dom = site["dom"]["plays/enrolled-contacted.html"]
    results = {a["data-test"]: a["data-passed"] for a in dom.having("tr") if "data-test" in a}
    assert results["enrolled Leads become Qualified (wrong on purpose)"] == "false"
    assert len(results) == 4
    assert "fields.Status: expected" in dom.text


@needs_chromium
def test_diagnostics_link_to_their_explanation(site):
    draft = site["dom"]["plays/draft-title.html"]
    codes = {a["data-code"] for a in draft.having("li") if "data-code" in a}
    assert "GRAPH004" in codes and any(c.startswith("FIELD") for c in codes)
    catalogue = site["dom"]["docs/diagnostics.html"]
    for code in codes:
        assert draft.having("a", href=f"../docs/diagnostics.html#{code}"), code
        assert code in catalogue.ids, code
    assert "has errors: does not run" in draft.text
    marked = {a["data-node"] for a in draft.having("g", cls="has-problems")}
    assert marked == {"set_title", "orphan"}  # the boxes the problems are in: red, the problem first
    assert "GRAPH004" in {a.get("data-code") for a in site["dom"]["diagnostics.html"].having("li")}


@needs_chromium
def test_the_field_index_says_which_plays_write_a_field(site):
    dom = site["dom"]["fields.html"]
    assert "salesforce-Lead-Status" in dom.ids
    row_plays = re.findall(r'id="salesforce-Lead-Status".*?</tr>', (site["out"] / "fields.html").read_text(), re.S)[0]
    assert "plays/enrolled-contacted.html" in row_plays and "plays/replied-to-lead-status.html" in row_plays
    assert "2 Plays" in row_plays
    for play in site["ws"].plays.values():
        for node in play.nodes.values():
            for name in node.fields:
                assert any(a["data-field"].endswith("." + name) for a in dom.having("tr") if "data-field" in a), name


@needs_chromium
def test_the_integration_page(site):
    text = site["dom"]["integration.html"].text
    for needle in ("every 15m", "Unify_Click_Count__c", "2026-11-01T00:00:00Z", "LeadSource", "Unify",
                   "unify_most_recent_play", "yourcompany.com", "weekly-engaged"):
        assert needle in text, needle


def test_every_link_resolves(site):
    out: Path = site["out"]
    ids_of: dict[Path, set[str]] = {}
    checked = 0
    for rel in site["pages"]:
        page = out / rel
        for _t, a in _Dom(page.read_text()).elements:
            href = a.get("href")
            if href is None or href.startswith(("http://", "https://", "mailto:")):
                continue
            assert not href.startswith(("/", "file:")), (rel, href)
            target, _, anchor = href.partition("#")
            file = (page.parent / target).resolve() if target else page
            assert file.is_file(), (rel, href)
            if anchor:
                if file not in ids_of:
                    ids_of[file] = _Dom(file.read_text()).ids
                assert anchor in ids_of[file], (rel, href)
            checked += 1
    assert checked > 100
    assert not any("cdn" in (out / r).read_text().lower() or "<script" in (out / r).read_text() for r in site["pages"])


@needs_chromium
def test_a_screenshot_of_a_play_page(site, tmp_path):
    shot = tmp_path / "play.png"
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                           "--window-size=1400,1000", (site["out"] / "plays/replied-to-lead-status.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_serve_answers_on_loopback(site, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "cli", "docs", "serve", "plays/", "--out", str(tmp_path / "s"),
                             "--port", "0"], cwd=site["work"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines: list[str] = []

        def url() -> str | None:
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"http://127\.0\.0\.1:\d+/", line)
            return m.group(0) if m else None

        base = wait_for(url, timeout=60, what="the serve URL")
        with urllib.request.urlopen(base + "index.html", timeout=30) as resp:
            assert resp.status == 200 and "replied-to-lead-status" in resp.read().decode()
        with urllib.request.urlopen(base + "plays/weekly-engaged.html", timeout=30) as resp:
            assert 'data-play="weekly-engaged"' in resp.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
