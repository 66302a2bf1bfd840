"""The workspace: finds and loads every Play, test and integration file under the given paths,
runs all offline checks, and hands back the valid Plays plus every diagnostic, sorted.

This is the loader room for a folder of files: discovery, reading the YAML (through
`engine.language.loader`), reading the CRM metadata snapshots named by ``schema_file`` (JSON), schema checks,
model building and the checks of `engine.language.checks`. A document with schema errors is still checked
as far as it can be read (`engine.language.lenient`): every problem is reported in one run, each once.
File names in diagnostics are as the user named them: a relative path stays relative.

Codes raised here: INTEG001 (no integration.yaml), INTEG002 (no schema_file), INTEG003
(schema_file not found), INTEG004 (schema_file unreadable or not a snapshot), INTEG006 (more than
one integration.yaml), PLAY001 (duplicate Play id), PLAY002 (a test names an unknown Play); and the
CRM-state checks of `engine.evaluate.crmstate` (CRMSTATE002..009) on each schema-valid test's `crm` block.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.language import schema_check
from engine.language.checks import check_conflicts, check_integration, check_play
from engine.language.lenient import build_partial_integration, build_partial_play, is_uncertain
from engine.language.checks.vocab import check_doc as check_vocab
from engine.evaluate.audience import read_csv
from engine.evaluate.crmstate import check_crm_state
from engine.diagnostics import Diagnostic, Severity, counts, did_you_mean, error, sort_key, warning
from engine.language.loader import Document, load_file
from engine.language.metadata import ObjectSchema, hubspot_objects, salesforce_objects
from engine.language.model import DEFAULT_INTEGRATION, Integration, Play, build_integration, build_play

PLAY_SUFFIXES = (".play.yaml", ".play.yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")
INTEGRATION_NAMES = ("integration.yaml", "integration.yml")
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024


class PathNotFound(Exception):
    """A path given to `load_workspace` does not exist (the CLI exits 2)."""

    def __init__(self, path: str):
        super().__init__(f"no such file or directory: {path}")
        self.path = path


@dataclass
class Workspace:
    plays: dict[str, Play]  # Plays that have no errors, by id
    integration: Integration  # DEFAULT_INTEGRATION when there is no integration.yaml
    crm_objects: dict[str, dict[str, ObjectSchema]]  # {"salesforce": {"Lead": ..}, "hubspot": {"contacts": ..}}
    tests: list[tuple[Document, dict]]  # schema-valid *.test.yaml documents
    diagnostics: list[Diagnostic]  # every problem, sorted
    files: int  # number of files read
    play_docs: dict[str, Document] = field(default_factory=dict)  # the document of each valid Play, by id
    built: dict[str, Play] = field(default_factory=dict)  # every Play that could be built (errors or not), by file

    @property
    def errors(self) -> int:
        return counts(self.diagnostics)[0]

    @property
    def warnings(self) -> int:
        return counts(self.diagnostics)[1]


@dataclass(frozen=True)
class _File:
    real: Path
    display: str
    kind: str  # play | test | integration


def _kind(name: str) -> str:
    low = name.lower()
    if low.endswith(TEST_SUFFIXES):
        return "test"
    if low in INTEGRATION_NAMES:
        return "integration"
    return "play"


def _join(root: str, rel: str) -> str:
    if root in (".", "./", ""):
        return rel
    return os.path.join(root, rel)


def _find_up(start: Path) -> Path | None:
    """integration.yaml in `start` or its nearest parent."""
    folder = start.resolve()
    for candidate in [folder, *folder.parents]:
        for name in INTEGRATION_NAMES:
            if (candidate / name).is_file():
                return candidate / name
    return None


def _display_for(found: Path, anchor_real: Path, anchor_display: str) -> str:
    """Name `found` relative to how the user named the anchor folder (a relative path stays relative)."""
    if os.path.isabs(anchor_display):
        return str(found)
    rel = os.path.relpath(found, anchor_real.resolve())
    return os.path.normpath(_join(anchor_display, rel))


def discover(paths: list[str]) -> list[_File]:
    """The files to check, in a stable order; raises PathNotFound for a missing path."""
    out: dict[Path, _File] = {}
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise PathNotFound(given)
        if p.is_dir():
            for real in sorted(p.rglob("*")):
                if real.is_dir() or not (real.is_file() or real.is_symlink()):
                    continue  # a broken link is kept: reading it reports YAML010
                name = real.name.lower()
                if name.endswith(PLAY_SUFFIXES + TEST_SUFFIXES) or name in INTEGRATION_NAMES:
                    rel = real.relative_to(p).as_posix()
                    out.setdefault(real.resolve(), _File(real, _join(given.rstrip("/") or "/", rel), _kind(real.name)))
            if not any(f.kind == "integration" for f in out.values()):
                found = _find_up(p)
                if found is not None and found.resolve() not in out:
                    out[found.resolve()] = _File(found, _display_for(found, p, given), "integration")
        else:
            out.setdefault(p.resolve(), _File(p, given, _kind(p.name)))
            if _kind(p.name) != "integration":
                found = _find_up(p.parent)
                if found is not None and found.resolve() not in out:
                    parent_display = os.path.dirname(given) or "."
                    out[found.resolve()] = _File(found, _display_for(found, p.parent, parent_display), "integration")
    return sorted(out.values(), key=lambda f: (f.kind != "integration", f.display.count("/"), f.display))


def load_workspace(paths: list[str] | str) -> Workspace:
    """Load and check everything under `paths` (folders are searched recursively)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [str(paths)]
    paths = [str(p) for p in paths] or ["plays/"]
    files = discover(paths)
    diags: list[Diagnostic] = []

    docs: list[tuple[_File, Document]] = []
    for f in files:
        doc, problems = load_file(f.real, f.display)
        diags.extend(problems)
        if doc is not None:
            docs.append((f, doc))

    # -- integration ---------------------------------------------------------------------------
    integration: Integration = DEFAULT_INTEGRATION  # the one Plays run with: only an error-free file
    crm_objects: dict[str, dict[str, ObjectSchema]] = {}
    checking: Integration = DEFAULT_INTEGRATION  # the one Plays are checked against: its valid parts
    uncertain: frozenset[tuple] = frozenset()  # settings left out of `checking` for schema errors
    integ_files = [(f, d) for f, d in docs if f.kind == "integration"]
    integ_all = [f for f in files if f.kind == "integration"]
    for extra in integ_all[1:]:
        first = integ_all[0].display
        diags.append(warning("INTEG006", extra.display, (1, 1), f"more than one integration.yaml; using {first}",
                             "validate each project folder on its own"))
    if integ_files and integ_files[0][0] is integ_all[0]:
        f, doc = integ_files[0]
        found = schema_check.findings(doc, "integration")
        diags.extend(x.diag for x in found if x.diag is not None)
        if isinstance(doc.data, dict):
            if found:
                partial = build_partial_integration(doc.data, found, f.display)
                checking, uncertain = partial.integration, partial.uncertain
            else:
                checking = build_integration(doc.data, f.display)
            crm_objects, snap_diags = _read_snapshots(f, doc, checking, uncertain)
            diags.extend(snap_diags)
            problems = check_integration(doc, checking, crm_objects, uncertain)
            diags.extend(problems)
            if not found:
                integration = checking
    for f, doc in integ_files[1:]:
        diags.extend(schema_check.check(doc, "integration"))
    run_objects = crm_objects if integration is checking else {}

    # -- plays ---------------------------------------------------------------------------------
    plays: dict[str, Play] = {}
    play_docs: dict[str, Document] = {}
    built: dict[str, Play] = {}
    checked = 0
    first_file: dict[str, str] = {}
    all_ids: list[str] = []
    no_id = [f.display for f in files if f.kind == "play" and not any(f is g for g, _d in docs)]  # unreadable
    for f, doc in docs:
        if f.kind != "play":
            continue
        found = schema_check.findings(doc, "play")
        problems = [x.diag for x in found if x.diag is not None]
        problems += check_vocab(doc)
        data = doc.data
        pid = data.get("play") if isinstance(data, dict) else None
        if not isinstance(pid, str):
            no_id.append(f.display)
        if isinstance(pid, str):
            all_ids.append(pid)
            if pid in first_file:
                problems.append(error("PLAY001", doc.file, doc.pos(("play",)), f"duplicate Play id '{pid}'",
                                      f"already used by {first_file[pid]}; Play ids are unique across the folder"))
            else:
                first_file[pid] = doc.file
        if not found:
            play = build_play(data, doc.file)
            built[doc.file] = play
            checked += 1
            problems += check_play(doc, play, checking, crm_objects, uncertain)
            if not _has_errors(problems):
                plays[play.id] = play
                play_docs[play.id] = doc
        else:
            partial = build_partial_play(data, found, doc.file)
            if partial is not None:
                checked += 1
                problems += check_play(doc, partial, checking, crm_objects, uncertain)
        diags.extend(problems)
    if checked and not integ_all:
        first = min(f.display for f, _d in docs if f.kind == "play")
        diags.append(warning("INTEG001", first, (1, 1), "no integration.yaml found; field checks skipped",
                             "add integration.yaml here or in a parent folder, with a schema_file per CRM"))
    diags.extend(check_conflicts([(play_docs[pid], p) for pid, p in plays.items()]))

    # -- tests ---------------------------------------------------------------------------------
    tests: list[tuple[Document, dict]] = []
    for f, doc in docs:
        if f.kind != "test":
            continue
        found = schema_check.findings(doc, "test")
        diags.extend(x.diag for x in found if x.diag is not None)
        if not found:
            tests.append((doc, doc.data))
            diags.extend(_check_test_crm(doc))
        pid = doc.data.get("play") if isinstance(doc.data, dict) else None
        play_ok = not any(x.path[:1] == ("play",) for x in found)  # a malformed id is reported already
        if (all_ids or no_id) and isinstance(pid, str) and play_ok and pid not in all_ids:
            if any(_stem(name) == pid for name in no_id):
                continue  # probably that Play, whose id cannot be read: its error is reported already
            hint = did_you_mean(pid, all_ids) or f"known Plays: {', '.join(sorted(set(all_ids))) or 'none'}"
            if no_id:
                hint += f"; the id of {', '.join(sorted(no_id))} cannot be read"
            diags.append(error("PLAY002", doc.file, doc.pos(("play",)), f"test names unknown Play '{pid}'", hint))

    diags = sorted(set(diags), key=sort_key)
    return Workspace(plays=plays, integration=integration, crm_objects=run_objects, tests=tests,
                     diagnostics=diags, files=len(files), play_docs=play_docs, built=built)


def _check_test_crm(doc: Document) -> list[Diagnostic]:
    """The CRM-state checks (`engine.evaluate.crmstate.check_crm_state`, CRMSTATE002..009) on a test's `crm`
    block, at their place in the YAML: `plays validate` reports what `plays test` would refuse."""
    crm = doc.data.get("crm") if isinstance(doc.data, dict) else None
    if not crm:
        return []
    return [Diagnostic(x.code, Severity(x.severity), doc.file, *doc.pos(("crm",) + tuple(x.path), x.at_key),
                       x.message, x.hint) for x in check_crm_state(crm)]


def _stem(name: str) -> str:
    """``plays/replied.play.yaml`` -> ``replied``."""
    base = os.path.basename(name)
    for suffix in PLAY_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def _has_errors(problems: list[Diagnostic]) -> bool:
    return any(d.severity == Severity.ERROR for d in problems)


def _read_snapshots(f: _File, doc: Document, integration: Integration,
                    uncertain: frozenset[tuple] = frozenset()) -> tuple[dict, list[Diagnostic]]:
    """Read the ``schema_file`` of each configured CRM (relative to the integration file's folder);
    no INTEG002 when the ``schema_file`` key was left out for a schema error (reported already)."""
    objects: dict[str, dict[str, ObjectSchema]] = {}
    diags: list[Diagnostic] = []
    for crm in ("salesforce", "hubspot"):
        settings = integration.settings(crm)
        if settings is None:
            continue
        if not settings.schema_file:
            if is_uncertain(uncertain, crm, "schema_file"):
                continue
            diags.append(warning("INTEG002", doc.file, doc.pos((crm,), key=True),
                                 f"{crm} has no schema_file; its field checks are skipped",
                                 "run `plays crm pull-schema` and set schema_file"))
            continue
        pos = doc.pos((crm, "schema_file"))
        real = f.real.parent / settings.schema_file
        try:
            if real.stat().st_size > MAX_SNAPSHOT_BYTES:
                diags.append(error("INTEG004", doc.file, pos, f"schema_file '{settings.schema_file}' is too large"))
                continue
            raw = real.read_text(encoding="utf-8")
        except FileNotFoundError:
            diags.append(warning("INTEG003", doc.file, pos, f"schema_file '{settings.schema_file}' not found; "
                                 f"{crm} field checks skipped", "run `plays crm pull-schema` to write it"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            diags.append(error("INTEG004", doc.file, pos, f"cannot read schema_file '{settings.schema_file}': {exc}"))
            continue
        try:
            data = json.loads(raw)
        except ValueError as exc:
            line, col = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
            msg = getattr(exc, "msg", str(exc))
            diags.append(error("INTEG004", doc.file, pos,
                               f"schema_file '{settings.schema_file}' is not valid JSON: {msg} at line {line} column {col}"))
            continue
        try:
            parsed = (salesforce_objects(data) if crm == "salesforce" else hubspot_objects(data)) \
                if isinstance(data, dict) else {}
        except (KeyError, TypeError, AttributeError):
            parsed = {}
        if not parsed:
            shape = "Salesforce describe results by object" if crm == "salesforce" else "HubSpot properties result"
            diags.append(error("INTEG004", doc.file, pos,
                               f"schema_file '{settings.schema_file}' is not a {shape}",
                               "write it with `plays crm pull-schema`"))
            continue
        objects[crm] = parsed
    return objects, diags


def read_audiences(plays: dict[str, Play], docs: dict[str, Document] | None = None
                   ) -> tuple[dict[str, list[dict]], list[Diagnostic]]:
    """Audience loading, the one place (D-AU-3): the CSV rows of every `schedule` Play with
    `audience.csv` (relative to the Play file's folder), by Play id, and what was left out as
    warnings: AUDIENCE001 a file that cannot be read (placed at the `csv` value when `docs`, the
    Play documents by id, are given), AUDIENCE002/003 from `engine.evaluate.audience.read_csv`.
    `plays plan`, `plays test` and the runtime all call this; nothing fails silently."""
    rows: dict[str, list[dict]] = {}
    diags: list[Diagnostic] = []
    for pid, play in plays.items():
        aud = play.trigger.audience
        if aud is None or not aud.csv:
            continue
        folder = Path(play.file).parent if play.file else Path(".")
        path = folder / aud.csv
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            doc = (docs or {}).get(pid)
            pos = doc.pos(("trigger", "audience", "csv")) if doc is not None else (1, 1)
            why = "it is not UTF-8" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or type(exc).__name__)
            diags.append(warning("AUDIENCE001", play.file or pid, pos,
                                 f"audience CSV '{aud.csv}' cannot be read ({why}); the audience is empty",
                                 "the path is relative to the Play file's folder"))
            continue
        rows[pid], problems = read_csv(text, str(path))
        diags += problems
    return rows, diags


def integration_for_test(ws: Workspace, doc: Document, data: dict, cache: dict[str, tuple]
                     ) -> tuple[Integration | None, dict | None, list[Diagnostic]]:
    """The integration and CRM snapshots a Play test runs with: the workspace's, or those of the
    folder its `integration:` key names (loaded once per path, kept in `cache`). `(None, None,
    diagnostics)` when that folder is missing or has errors: the test cannot run. `plays test` and
    `plays docs` both ask here, so a test runs with the same settings wherever its result is shown."""
    if not data.get("integration"):
        return ws.integration, ws.crm_objects, []
    path = str(Path(doc.file).parent / data["integration"])
    if path not in cache:
        try:
            other = load_workspace([path])
            bad = any(d.severity == Severity.ERROR for d in other.diagnostics)
            cache[path] = (None, None, other.diagnostics) if bad else (other.integration, other.crm_objects,
                                                                       other.diagnostics)
        except PathNotFound:
            cache[path] = (None, None, [])
    return cache[path]
