"""The docs site's HTML pages (Jinja2, autoescaped, CSS inlined): the index of Plays, a page per
Play, the field index, the integration, the diagnostics, and the user docs. Pure rendering of the
values `cli.site.collect` gathers; links are relative, so the site opens from disk."""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

from cli.site.collect import Site, rel
from cli.site.docs import DocPage, Linker
from cli.site.style import CSS
from engine.language.render_graph import MODE_MEANING
from engine.language.run_view import DOCS_PAGE

TRACKING_NAMES = {"track_opens": "Track Opens", "click_count": "Click Count", "clicked_at": "Clicked At",
                  "email_replies": "Email Replies", "sent_at": "Sent At"}

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · plays</title><style>{{ css }}</style></head>
<body><header class="top"><a class="brand" href="{{ root }}index.html">&#9654; plays</a>
<a href="{{ root }}index.html"{% if nav == 'plays' %} class="here"{% endif %}>Plays</a>
<a href="{{ root }}fields.html"{% if nav == 'fields' %} class="here"{% endif %}>Fields</a>
<a href="{{ root }}integration.html"{% if nav == 'integration' %} class="here"{% endif %}>Integration</a>
<a href="{{ root }}diagnostics.html"{% if nav == 'diagnostics' %} class="here"{% endif %}>Diagnostics</a>
{% if docs %}<a href="{{ root }}docs/index.html"{% if nav == 'docs' %} class="here"{% endif %}>Docs</a>{% endif %}
</header><main>{% block main %}{% endblock %}</main>
<footer>Made by <code>plays docs generate</code> from {{ site.root }} on {{ site.generated }}.</footer>
</body></html>
"""

MACROS = """
{% macro mode(m) %}<span class="chip {{ m | replace(' ', '-') }}" title="{{ meaning[m] }}">{{ m }}</span>{% endmacro %}
{% macro value(w) %}{% if w.template %}<span class="tmpl">{{ w.value }}</span>{% else %}{{ w.value }}{% endif %}{% endmacro %}
{% macro crm(c) %}<span class="chip crm {{ c }}">{{ 'Salesforce' if c == 'salesforce' else 'HubSpot' }}</span>{% endmacro %}
{% macro diag_list(diags, root) %}<ul class="diags">{% for d in diags %}
<li class="{{ d.severity }}" data-code="{{ d.code }}"><span class="chip {{ d.severity }}">{{ d.severity }}</span>
{{ link(d.code, root) }} <code>{{ rel(d.file) }}:{{ d.line }}:{{ d.col }}</code> {{ linked(d.message, root) }}
{% if d.hint %}<div class="muted">{{ linked(d.hint, root) }}</div>{% endif %}</li>{% endfor %}</ul>{% endmacro %}
"""

INDEX = """{% extends "base" %}{% from "macros" import crm with context %}{% block main %}
<h1>Plays</h1>
<p class="lead">{{ site.plays | length }} Plays from <code>{{ site.root }}</code>.
Each Play says what happens in Salesforce or HubSpot when something happens in a sequence.</p>
<div class="cards">
<div class="card"><div class="n">{{ site.plays | selectattr('valid') | list | length }} / {{ site.plays | length }}</div><div class="l">Plays that run (no errors)</div></div>
<div class="card"><div class="n">{{ passed }} / {{ tests }}</div><div class="l">Play tests passing</div></div>
<div class="card"><div class="n">{{ site.fields | length }}</div><div class="l">CRM fields written (<a href="fields.html">field index</a>)</div></div>
<div class="card"><div class="n">{{ errors }} / {{ warnings }}</div><div class="l">errors / warnings (<a href="diagnostics.html">diagnostics</a>)</div></div>
</div>
<table class="plays"><thead><tr><th>Play</th><th>When</th><th>Enabled</th><th>Writes</th><th>Tests</th><th>Problems</th><th>Last change</th></tr></thead><tbody>
{% for p in site.plays %}<tr data-play="{{ p.id }}">
<td><a href="plays/{{ p.id }}.html"><b>{{ p.id }}</b></a><div class="muted">{{ p.play.description }}</div></td>
<td>{{ p.trigger }}</td>
<td>{% if p.play.enabled %}<span class="chip on">enabled</span>{% else %}<span class="chip off">disabled</span>{% endif %}</td>
<td>{% for c in p.crms %}{{ crm(c) }}{% endfor %}<div>{% for text, field, a in written(p) %}<a class="chip field" {% if a %}href="fields.html#{{ a }}"{% endif %} data-field="{{ field }}">{{ text }}</a>{% endfor %}{% if tasks_of(p) %}<span class="chip field">creates a task</span>{% endif %}</div></td>
<td>{% if p.tests %}<span class="chip {{ 'pass' if p.passed == p.tests|length else 'fail' }}">{{ p.passed }}/{{ p.tests | length }} passed</span>{% else %}<span class="muted">none</span>{% endif %}</td>
<td>{% if p.errors %}<span class="chip error">{{ p.errors }} error{{ 's' if p.errors > 1 }}</span>{% endif %}{% if p.warnings %}<span class="chip warning">{{ p.warnings }} warning{{ 's' if p.warnings > 1 }}</span>{% endif %}{% if not p.errors and not p.warnings %}<span class="muted">none</span>{% endif %}</td>
<td>{% if p.change %}{{ p.change.when }}{% if p.change.source == 'git' %}<div class="muted" title="{{ p.change.subject }}">by {{ p.change.author }}</div>{% else %}<div class="muted">modified, not committed</div>{% endif %}{% endif %}</td>
</tr>{% endfor %}</tbody></table>
{% endblock %}"""

PLAY = """{% extends "base" %}{% from "macros" import mode, value, crm, diag_list with context %}{% block main %}
<h1>{{ p.id }}</h1>
<p class="lead">{{ p.play.description or "(no description)" }}</p>
<div class="meta"><span><b>File</b><code>{{ rel(p.file) }}</code></span>
<span><b>Status</b>{% if not p.play.enabled %}<span class="chip off">disabled: never runs</span>{% elif p.valid %}<span class="chip on">enabled</span>{% else %}<span class="chip error">has errors: does not run</span>{% endif %}</span>
<span><b>CRMs</b>{% for c in p.crms %}{{ crm(c) }}{% endfor %}</span>
{% if p.change %}<span><b>Last change</b>{{ p.change.when }}{% if p.change.source == 'git' %} · {{ p.change.subject }} ({{ p.change.author }}){% endif %}</span>{% endif %}</div>
<h2 id="graph">How it works</h2>
<p class="muted">Read from the top: what starts the Play, then each step. A branch takes the first arrow whose condition matches. Each step lists the fields it writes and when.</p>
<div class="graph">{{ svg }}</div>
<h2 id="writes">What it writes</h2>
{% if p.writes %}<table class="writes"><thead><tr><th>Step</th><th>Record</th><th>Field</th><th>Value</th><th>Default</th><th>When written</th></tr></thead><tbody>
{% for nw in p.writes %}{% for w in nw.writes %}<tr data-node="{{ nw.node }}" data-field="{{ w.field }}">
<td>{{ nw.node }}</td><td>{{ crm(nw.crm) }} {{ nw.objects | join(' or ') }}</td>
<td>{% set a = anchor(nw.crm, nw.objects, w.field) %}{% if a %}<a href="../fields.html#{{ a }}"><code>{{ w.field }}</code></a>{% else %}<code>{{ w.field }}</code>{% endif %}{% if w.label and w.label != w.field %}<div class="muted">{{ w.label }}</div>{% endif %}{% if w.picklist %} <span class="chip picklist">picklist</span>{% endif %}</td>
<td>{{ value(w) }}{% if w.source != 'node' %}<div class="muted">from the {{ w.source }}</div>{% endif %}</td>
<td>{{ w.default if w.default is not none else '' }}</td><td>{{ mode(w.mode) }}</td></tr>{% endfor %}{% endfor %}
</tbody></table>
<p class="legend">{% set used = p.writes | map(attribute='writes') | sum(start=()) | map(attribute='mode') | unique | list %}{% for m, text in meaning.items() if m in used %}{{ mode(m) }} {{ linked(text, '../') }}<br>{% endfor %}</p>
{% else %}<p class="muted">This Play writes no CRM fields{% if tasks %}; it creates tasks{% endif %}.</p>{% endif %}
<h2 id="tests">Play tests</h2>
{% if p.tests %}<table class="tests"><thead><tr><th>Test</th><th>File</th><th>Result</th></tr></thead><tbody>
{% for t in p.tests %}<tr data-test="{{ t.name }}" data-passed="{{ 'true' if t.passed else 'false' }}"><td>{{ t.name }}
{% if t.problems %}<ul class="problems">{% for pr in t.problems %}<li>{{ linked(pr, '../') }}</li>{% endfor %}</ul>{% endif %}</td>
<td><code>{{ rel(t.file) }}:{{ t.line }}</code></td><td><span class="chip {{ 'pass' if t.passed else 'fail' }}">{{ 'passed' if t.passed else 'failed' }}</span></td></tr>{% endfor %}
</tbody></table>{% else %}<p class="muted">No Play tests for this Play. Add a <code>*.test.yaml</code> beside it.</p>{% endif %}
<h2 id="diagnostics">Diagnostics</h2>
{% if p.diagnostics %}{{ diag_list(p.diagnostics, '../') }}{% else %}<p class="muted">No problems found.</p>{% endif %}
<details><summary>The Play's YAML</summary><pre><code>{{ p.source }}</code></pre></details>
{% endblock %}"""

FIELDS = """{% extends "base" %}{% from "macros" import mode, value, crm with context %}{% block main %}
<h1>Fields written</h1>
<p class="lead">Which Plays write each CRM field, with what and when. A field several Plays write is where
conflicts start: a field that is not owned keeps the first value written (only blank fields are written).</p>
<table class="fields"><thead><tr><th>Field</th><th>Written by</th></tr></thead><tbody>
{% for f in site.fields %}<tr id="{{ f.anchor }}" data-field="{{ f.object }}.{{ f.field }}">
<td>{{ crm(f.crm) }} <b>{{ f.object }}.<code>{{ f.field }}</code></b>{% if f.label and f.label != f.field %}<div class="muted">{{ f.label }}</div>{% endif %}
{% if f.picklist %}<span class="chip picklist">picklist</span>{% endif %}{% if f.plays | length > 1 %}<span class="chip warning">{{ f.plays | length }} Plays</span>{% endif %}</td>
<td>{% for u in f.uses %}<div><a href="plays/{{ u.play }}.html">{{ u.play }}</a> › {{ u.node }}: = {{ value(u.write) }}
{{ mode(u.write.mode) }}{% if u.write.source != 'node' %}<span class="muted">({{ u.write.source }})</span>{% endif %}</div>{% endfor %}</td></tr>{% endfor %}
</tbody></table>{% endblock %}"""

INTEGRATION = """{% extends "base" %}{% from "macros" import crm, diag_list with context %}{% block main %}
<h1>Integration</h1>
<p class="lead">The settings every Play runs with{% if i.file %} (<code>{{ rel(i.file) }}</code>){% endif %}.</p>
{% if not crms %}<p class="muted">No integration settings found: the Plays run with the defaults.</p>{% endif %}
{% for s in crms %}<h2 id="{{ s.crm }}">{{ crm(s.crm) }} {{ 'Salesforce' if s.crm == 'salesforce' else 'HubSpot' }}</h2>
<div class="meta"><span><b>Sync schedule</b>every {{ s.sync_every }}</span>
<span><b>Follow-up tasks</b>{{ 'on, due in %d days' % s.follow_up_due_days if s.task_sync else 'off' }}</span>
{% if s.crm == 'salesforce' %}<span><b>Email writeback</b>{{ 'EmailMessage (Enhanced Email)' if s.uses_email_message else 'Tasks' }}</span>{% endif %}
<span><b>Field snapshot</b>{{ s.schema_file or 'none' }}</span></div>
<h3>{{ linked("Owned fields: always written (D-WB-1)", "") }}</h3>
<p>{% for f in s.owned | sort %}<span class="chip owned">{{ f }}</span>{% else %}<span class="muted">none</span>{% endfor %}</p>
<h3>{{ linked("Tracking fields: owned; a newly mapped field gets activity from its mapping start on (D-WB-8)", "") }}</h3>
<table class="tracking"><thead><tr><th>Activity</th><th>Field</th><th>Receives activity from</th></tr></thead><tbody>
{% for key, f in s.tracking.items() %}<tr><td>{{ names.get(key, key) }}</td><td><code>{{ f }}</code></td>
<td>{{ s.mappings_since.get(f) or 'all activity (no mapping start set)' }}</td></tr>{% else %}<tr><td colspan="3" class="muted">none mapped</td></tr>{% endfor %}
</tbody></table>
<h3>{{ linked("Default values: written when the field is blank (D-WB-7)", "") }}</h3>
<table class="defaults"><thead><tr><th>Field</th><th>Default</th></tr></thead><tbody>
{% for f, v in s.default_values.items() %}<tr><td><code>{{ f }}</code></td><td>{{ v }}</td></tr>{% else %}<tr><td colspan="2" class="muted">none</td></tr>{% endfor %}
</tbody></table>{% endfor %}
<h2>Web tracking</h2><p>Tracked link domains: {% for d in i.web_tag_domains %}<code>{{ d }}</code> {% else %}<span class="muted">none</span>{% endfor %}</p>
{% if schedules %}<h2>Scheduled Plays</h2><ul>{% for p in schedules %}<li><a href="plays/{{ p.id }}.html">{{ p.id }}</a>: {{ p.trigger }}</li>{% endfor %}</ul>{% endif %}
{% if diags %}<h2>Diagnostics</h2>{{ diag_list(diags, '') }}{% endif %}
{% endblock %}"""

DIAGNOSTICS = """{% extends "base" %}{% from "macros" import diag_list with context %}{% block main %}
<h1>Diagnostics</h1>
<p class="lead">Every problem <code>plays validate</code> finds in {{ site.root }}: {{ errors }} error{{ 's' if errors != 1 }}, {{ warnings }} warning{{ 's' if warnings != 1 }}.
Each code links to its explanation.</p>
{% if site.diagnostics %}{{ diag_list(site.diagnostics, '') }}{% else %}<p>No problems found.</p>{% endif %}
{% if site.other_tests %}<h2>Play tests of Plays that cannot be built</h2><ul>{% for t in site.other_tests %}<li><code>{{ rel(t.file) }}:{{ t.line }}</code> {{ t.name }}: {{ t.problems | join('; ') }}</li>{% endfor %}</ul>{% endif %}
{% endblock %}"""

DOC = """{% extends "base" %}{% block main %}<div class="doc">{{ body }}</div>{% endblock %}"""

DOCS_INDEX = """{% extends "base" %}{% block main %}<h1>Docs</h1>
<ul>{% for d in docs.values() %}<li><a href="{{ d.name }}.html">{{ d.title }}</a></li>{% endfor %}</ul>{% endblock %}"""


class Pages:
    """Renders every page of a site."""

    def __init__(self, site: Site, docs: dict[str, DocPage]):
        self.site, self.docs = site, docs
        self.linker = Linker(docs)
        self.env = Environment(loader=DictLoader({"base": BASE, "macros": MACROS, "index": INDEX, "play": PLAY,
                                                  "fields": FIELDS, "integration": INTEGRATION,
                                                  "diagnostics": DIAGNOSTICS, "doc": DOC, "docs_index": DOCS_INDEX}),
                               autoescape=select_autoescape(default=True, default_for_string=True))
        errors = sum(d.severity == "error" for d in site.diagnostics)
        tests = [t for p in site.plays for t in p.tests]
        self.common = dict(site=site, css=Markup(CSS), docs=docs, rel=rel, meaning=MODE_MEANING,
                           linked=lambda text, root: Markup(self.linker.text(str(text), root)),
                           link=self._code_link, errors=errors, warnings=len(site.diagnostics) - errors,
                           tests=len(tests), passed=sum(t.passed for t in tests), anchor=self._anchor,
                           tasks_of=lambda p: any(n.kind == "create_task" for n in p.play.nodes.values()),
                           written=self._written)
        self.anchors = {f.anchor for f in site.fields}

    def _written(self, page) -> list[tuple[str, str, str | None]]:
        """(Object.Field, field, field index anchor) of every field a Play's nodes map, once each."""
        out: dict[str, tuple[str, str, str | None]] = {}
        for nw in page.writes:
            for w in nw.writes:
                text = f"{'/'.join(nw.objects)}.{w.field}"
                if w.source == "node" and text not in out:
                    out[text] = (text, w.field, self._anchor(nw.crm, nw.objects, w.field))
        return list(out.values())

    def _anchor(self, crm: str, objects: tuple[str, ...], field: str) -> str | None:
        """The field index entry of a field a node writes (its first object that has the field)."""
        return next((a for a in (f"{crm}-{o}-{field}" for o in objects) if a in self.anchors), None)

    def _code_link(self, code: str, root: str) -> Markup:
        href = self.linker.code_href(code, root)
        return Markup(f'<a class="code" href="{href}"><b>{code}</b></a>') if href else Markup(f"<b>{code}</b>")

    def _render(self, name: str, root: str, **values) -> str:
        return self.env.get_template(name).render(**self.common, root=root, **values)

    def all(self) -> dict[str, str]:
        """Relative path -> HTML of every page."""
        site = self.site
        out = {"index.html": self._render("index", "", title="Plays", nav="plays"),
               "fields.html": self._render("fields", "", title="Fields written", nav="fields")}
        for p in site.plays:
            tasks = any(n.kind == "create_task" for n in p.play.nodes.values())
            out[DOCS_PAGE.format(id=p.id)] = self._render("play", "../", title=p.id, nav="plays", p=p, svg=Markup(p.svg),
                                                     tasks=tasks)
        i = site.integration
        crms = [s for s in (i.salesforce, i.hubspot) if s is not None]
        integ_file = i.file or next((d.file for d in site.diagnostics if d.code.startswith("INTEG")), None)
        out["integration.html"] = self._render(
            "integration", "", title="Integration", nav="integration", i=i, crms=crms, names=TRACKING_NAMES,
            schedules=[p for p in site.plays if p.play.trigger.type == "schedule"],
            diags=[d for d in site.diagnostics if integ_file and d.file == integ_file])
        out["diagnostics.html"] = self._render("diagnostics", "", title="Diagnostics", nav="diagnostics")
        if self.docs:
            out["docs/index.html"] = self._render("docs_index", "../", title="Docs", nav="docs")
            for d in self.docs.values():
                out[f"docs/{d.name}.html"] = self._render("doc", "../", title=d.title, nav="docs",
                                                           body=Markup(self.linker.html(d.body, "../", d.name)))
        return out
