"""The docs site's rendering of the user docs (cli/site/docs.py): catalogue rows get their code as
id, rule ids and codes in any text link to their explanation, links between docs point at the
rendered pages and a link to a file the site does not have becomes plain text."""

from __future__ import annotations

from pathlib import Path

from cli.site.docs import Linker, render_docs

CATALOGUE = """# Diagnostics catalogue

## FIELD — CRM fields

| code | severity | meaning |
|---|---|---|
| `FIELD001` | error | unknown field |

See [the rules](rules.md#d-wb-2-other-fields) and [the README](../README.md).
"""

RULES = """# Rules

### D-WB-2 Other fields

Only blank fields are written; see FIELD001.

<a id="D-WB-10"></a>
### Ten
"""


def test_catalogue_rules_and_links(tmp_path: Path):
    (tmp_path / "diagnostics.md").write_text(CATALOGUE)
    (tmp_path / "rules.md").write_text(RULES)
    pages = render_docs(tmp_path)
    assert set(pages) == {"diagnostics", "rules"}
    diag = pages["diagnostics"]
    assert diag.title == "Diagnostics catalogue" and "FIELD001" in diag.ids
    assert '<a href="rules.html#d-wb-2-other-fields">the rules</a>' in diag.body
    assert '<span class="dead-link" title="../README.md">the README</span>' in diag.body
    linker = Linker(pages)
    text = linker.text("Status is kept (D-WB-2); D-WB-10 and D-WB-1; FIELD001 <b>", "../")
    assert '<a class="rule" href="../docs/rules.html#d-wb-2-other-fields">D-WB-2</a>' in text
    assert '<a class="rule" href="../docs/rules.html#D-WB-10">D-WB-10</a>' in text
    assert "D-WB-1;" in text  # no anchor for it: left as text
    assert '<a class="code" href="../docs/diagnostics.html#FIELD001">FIELD001</a>' in text and "&lt;b&gt;" in text
    linked = linker.html(pages["rules"].body, "../", "rules")
    assert '<a class="code" href="../docs/diagnostics.html#FIELD001">FIELD001</a>' in linked


def test_no_docs_folder_means_no_links():
    linker = Linker(render_docs(None))
    assert linker.text("FIELD001 (D-WB-2)", "") == "FIELD001 (D-WB-2)"
