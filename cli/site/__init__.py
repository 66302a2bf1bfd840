"""`plays docs`: a static site of a workspace, viewable offline (dbt docs for Plays).

`generate(paths, out)` loads the workspace (`cli.site.collect`: Plays, their pictures, writes,
Play tests run now, diagnostics, last changes, the field index, the integration), renders the user
docs (`cli.site.docs`) and writes every page (`cli.site.pages`) under `out`: ``index.html``,
``plays/<id>.html``, ``fields.html``, ``integration.html``, ``diagnostics.html``, ``docs/*.html``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cli.site.collect import Site, collect
from cli.site.docs import docs_folder, render_docs
from cli.site.pages import Pages
from engine.language.run_view import DOCS_PAGE


@dataclass
class Generated:
    out: Path
    pages: list[str]  # relative paths written
    site: Site


def generate(paths: list[str], out: Path, docs: Path | None = None) -> Generated:
    """Write the site of the workspace under `paths` into `out` (its old pages are replaced)."""
    site = collect(paths)
    rendered = Pages(site, render_docs(docs if docs is not None else docs_folder())).all()
    out = Path(out)
    for sub in ("plays", "docs"):
        if (out / sub).is_dir() and (out / "index.html").is_file():
            shutil.rmtree(out / sub)  # a Play renamed since the last run leaves no stale page
    for rel, text in rendered.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return Generated(out, sorted(rendered), site)


def play_page(play_id: str) -> str:
    """The path of a Play's page inside a generated site."""
    return DOCS_PAGE.format(id=play_id)
