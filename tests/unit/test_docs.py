"""The user docs cannot drift: the language reference is the generator's output, every rule id cited
anywhere (diagnostics, messages, `--help`, schemas, docs) has its anchor in docs/rules.md, every
relative link in the docs lands on a file and anchor that exist, the CI page's workflow is the one
`plays init` writes. (That no file names a path outside the repository is test_self_contained's.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli import gen_reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RULE_ID = re.compile(r"\bD-[A-Z]+-\d+\b")
ANCHOR = re.compile(r'<a id="([a-z0-9-]+)"></a>')
LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]+)\)")
CODE = re.compile(r"`([A-Z]+[0-9]{3})`")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text.replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text_wo_code = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    heads = {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text_wo_code, re.M)}
    return heads | set(ANCHOR.findall(text))


def _user_docs() -> list[Path]:
    return sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


def test_reference_is_generated_from_the_schemas():
    assert (DOCS / "reference.md").read_text(encoding="utf-8") == gen_reference.generate(), \
        "docs/reference.md is out of date: run `python -m cli.gen_reference`"


def test_reference_covers_every_trigger_node_operator_and_setting():
    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    from engine.language.vocab import CLASSIFICATIONS, STATUSES, TriggerType

    for t in TriggerType:
        assert f"### `{t.value}`" in text
    for node in ("branch", "sync_to_salesforce", "sync_to_hubspot", "create_task"):
        assert f"### `{node}`" in text
    for op in ("not", "in", "contains", "exists", "gt", "lt"):
        assert f"| `{op}` |" in text
    for value in STATUSES + CLASSIFICATIONS:
        assert f"`{value}`" in text
    for key in ("email_writeback", "tracking_fields", "web_tag_domains", "access_token", "api_budget_share"):
        if key == "api_budget_share" and key not in (ROOT / "schemas" / "integration.schema.json").read_text():
            continue
        assert f"`{key}`" in text, key


def test_rules_page_has_one_anchor_per_rule():
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    anchors = ANCHOR.findall(text)
    assert len(anchors) == len(set(anchors)) >= 50
    headed = re.findall(r"^### (D-[A-Z]+-\d+) ", text, re.M)
    assert [a.upper() for a in anchors] == headed, "each anchor sits right above its rule's heading"


def test_every_rule_id_cited_anywhere_is_explained():
    anchors = set(ANCHOR.findall((DOCS / "rules.md").read_text(encoding="utf-8")))
    sources = _user_docs() + sorted((ROOT / "schemas").glob("*.json"))
    for folder in ("engine", "cli", "flows"):
        sources += sorted((ROOT / folder).rglob("*.py"))
    missing = {}
    for path in sources:
        for rid in RULE_ID.findall(path.read_text(encoding="utf-8")):
            if rid.lower() not in anchors:
                missing.setdefault(rid, str(path.relative_to(ROOT)))
    assert not missing, f"rule ids without an anchor in docs/rules.md: {missing}"


def test_the_catalogue_links_its_rule_ids_to_the_rules_page():
    text = (DOCS / "diagnostics.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\(rules\.md#(d-[a-z]+-\d+)\)", text)
    assert len(linked) > 20  # where each link lands is test_relative_links_land's


def test_codes_named_on_the_rules_page_exist():
    catalogue = set(re.findall(r"^\| `([A-Z]+[0-9]{3})`", (DOCS / "diagnostics.md").read_text(), re.M))
    named = set(CODE.findall((DOCS / "rules.md").read_text()))
    assert named and named <= catalogue, named - catalogue


def test_relative_links_land():
    broken = []
    for page in _user_docs():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such anchor)")
    assert not broken, broken


def test_performance_page_is_a_contributors_note():
    first = (DOCS / "performance.md").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and "contributors" in first.lower()


def test_ci_page_workflow_is_the_one_plays_init_writes():
    try:
        from cli.init_cmd import planned_files
    except ImportError:
        pytest.skip("plays init is not in this build")
    text = (DOCS / "ci.md").read_text(encoding="utf-8")
    m = re.search(r"^```yaml file=\.github/workflows/plays\.yml\n(.*?)^```", text, re.M | re.S)
    assert m, "docs/ci.md shows the workflow in a ```yaml file=.github/workflows/plays.yml block"
    assert m.group(1) == planned_files()[".github/workflows/plays.yml"]


def test_readme_points_at_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/first-play.md", "docs/reference.md", "docs/rules.md", "docs/diagnostics.md", "docs/ci.md"):
        assert page in readme, page
