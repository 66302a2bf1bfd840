"""The user docs (``docs/*.md``) as pages of the site, and links from codes and rule ids to them.

Markdown is rendered with the `markdown` package (tables, fenced code, heading ids). Then: every
row of the diagnostics catalogue whose first cell is a code gets that code as its id
(``diagnostics.html#FIELD003``); links between docs point at the rendered pages; a link to a file
the site does not have is left as plain text, so every link of the site resolves offline.
`Linker` turns ``FIELD003`` and ``D-WB-2`` in any text into links to their explanation.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import markdown

CODE = re.compile(r"\b([A-Z]{3,10}\d{3})\b")
RULE = re.compile(r"\b(D-[A-Z]{2,6}-\d+)\b")
_ROW = re.compile(r"<tr>\s*<td><code>([A-Z]{3,10}\d{3})</code>")
_LINK = re.compile(r'<a href="([^"]*)"([^>]*)>(.*?)</a>', re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_RULE_ID = re.compile(r"d-([a-z]{2,6})-(\d+)(?![0-9])")


def docs_folder() -> Path | None:
    """The project's user docs: ``docs/`` beside the installed `cli` package (a checkout)."""
    folder = Path(__file__).resolve().parents[2] / "docs"
    return folder if folder.is_dir() else None


@dataclass
class DocPage:
    name: str  # file stem: diagnostics, rules, reference, ...
    title: str
    body: str  # HTML
    ids: set[str] = field(default_factory=set)


def _title(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return name.replace("-", " ").capitalize()


def render_docs(folder: Path | None) -> dict[str, DocPage]:
    """Every ``*.md`` of `folder`, rendered (keyed by file stem)."""
    if folder is None:
        return {}
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}
    pages: dict[str, DocPage] = {}
    for name, text in sources.items():
        body = markdown.markdown(text, extensions=["tables", "fenced_code", "toc", "sane_lists"],
                                 extension_configs={"toc": {"permalink": False}}, output_format="html")
        body = _ROW.sub(lambda m: f'<tr id="{m.group(1)}">\n<td><code>{m.group(1)}</code>', body)
        body = _LINK.sub(lambda m: _relink(m, set(sources)), body)
        pages[name] = DocPage(name, _title(text, name), body, set(_ID.findall(body)))
    return pages


def _relink(m: re.Match, names: set[str]) -> str:
    href, rest, text = m.group(1), m.group(2), m.group(3)
    if href.startswith(("http://", "https://", "mailto:", "#")):
        return m.group(0)
    target, _, anchor = href.partition("#")
    stem = Path(target).name
    if target.endswith(".md") and "/" not in target.strip("./") and stem[:-3] in names:
        return f'<a href="{stem[:-3]}.html{"#" + anchor if anchor else ""}"{rest}>{text}</a>'
    return f'<span class="dead-link" title="{html.escape(href)}">{text}</span>'


class Linker:
    """Links diagnostic codes and rule ids in text to their explanation (when the site has one)."""

    def __init__(self, pages: dict[str, DocPage]):
        diag = pages.get("diagnostics")
        self.codes = {i for i in diag.ids if CODE.fullmatch(i)} if diag else set()
        self.sections = {i for i in diag.ids} if diag else set()
        rules = pages.get("rules")
        self.rules: dict[str, str] = {}  # D-WB-2 -> its anchor: `d-wb-2`, `D-WB-2`, `d-wb-2-other-fields`, ...
        if rules:
            for i in _ID.findall(rules.body):
                m = _RULE_ID.match(i.lower())
                if m:
                    self.rules.setdefault(f"D-{m.group(1).upper()}-{m.group(2)}", i)
        self.has_diag = diag is not None

    def code_href(self, code: str, root: str) -> str | None:
        if code in self.codes:
            return f"{root}docs/diagnostics.html#{code}"
        if self.has_diag:
            return f"{root}docs/diagnostics.html"
        return None

    def rule_href(self, rule: str, root: str) -> str | None:
        anchor = self.rules.get(rule)
        return f"{root}docs/rules.html#{anchor}" if anchor else None

    def text(self, raw: str, root: str) -> str:
        """`raw` escaped for HTML, with codes and rule ids as links."""
        out = html.escape(raw)

        def code(m: re.Match) -> str:
            href = self.code_href(m.group(1), root)
            return f'<a class="code" href="{href}">{m.group(1)}</a>' if href else m.group(1)

        def rule(m: re.Match) -> str:
            href = self.rule_href(m.group(1), root)
            return f'<a class="rule" href="{href}">{m.group(1)}</a>' if href else m.group(1)

        return RULE.sub(rule, CODE.sub(code, out))

    def html(self, body: str, root: str, page: str = "") -> str:
        """Rendered HTML with the codes and rule ids of its text linked (not inside links; a code on
        its own catalogue row is left alone)."""
        out: list[str] = []
        in_link = 0
        for part in re.split(r"(<[^>]+>)", body):
            if part.startswith("<"):
                if re.match(r"<a[\s>]", part):
                    in_link += 1
                elif part.startswith("</a"):
                    in_link = max(0, in_link - 1)
                out.append(part)
            elif in_link or not part.strip():
                out.append(part)
            else:
                text = RULE.sub(lambda m: self._a("rule", self.rule_href(m.group(1), root), m.group(1)), part)
                if page != "diagnostics":
                    text = CODE.sub(lambda m: self._a("code", self._exact(m.group(1), root), m.group(1)), text)
                out.append(text)
        return "".join(out)

    def _exact(self, code: str, root: str) -> str | None:
        return f"{root}docs/diagnostics.html#{code}" if code in self.codes else None

    @staticmethod
    def _a(cls: str, href: str | None, text: str) -> str:
        return f'<a class="{cls}" href="{href}">{text}</a>' if href else text
