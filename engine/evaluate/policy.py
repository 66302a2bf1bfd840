"""The writeback policy: which wanted values are written, kept or skipped (D-WB-1..4, D-WB-7, D-FT-3).

Pure functions over values; the planner calls `decide` once per sync node and record.

- Owned fields (D-WB-1) are written whenever the engine has a value.
- Any other field is written only when the CRM field is blank (`is_blank`: None, "" or only
  whitespace, D-WB-2); otherwise the
  wanted value is reported `kept` with the current one. A field listed in the node's `overwrite`
  opt-in (D-WB-4) is written anyway and reported as overwritten — the node's own mapped value only:
  a default never replaces a non-blank, non-owned value, not even under the opt-in (D-WB-7).
- A created record (D-WB-3) gets every mapped field that has a value.
- Defaults (D-WB-7; node over integration, merged by the compiler) replace an empty wanted value and,
  for a picklist, a value the picklist does not allow (D-FT-3); without a default such a value is
  skipped `invalid_picklist_value`. A default for a field the node does not map fills that field when
  it is blank and never overwrites anything.
- A value equal to what the CRM already holds is not written (nothing would change).
- With field metadata, values are converted to the field's kind (``"3"`` -> 3 for a number) and
  fields the object lacks, or cannot take (D-FT-2, read-only), are skipped `unsupported_field`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from engine.evaluate.events import iso_z, parse_time
from engine.language.metadata import FieldInfo, ObjectSchema
from engine.language.times import is_date
from engine.language.templates import RenderFailed



def is_blank(v: Any) -> bool:
    """D-WB-2, the one definition of blank for every code path (plans, runs, write-time re-checks,
    retries, backfills): null, the empty string, or a string of only whitespace."""
    return v is None or (isinstance(v, str) and (v == "" or v.isspace()))


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def equal(v: Any, operand: Any) -> bool:
    """Equality with light coercion: ``"3" == 3``, ``"true" == True``; strings compare exactly."""
    if v == operand and type(v) is type(operand):
        return True
    if v is None or operand is None:
        return v is operand
    if isinstance(v, bool) or isinstance(operand, bool):
        return str(v).lower() == str(operand).lower()
    if isinstance(v, str) and isinstance(operand, str):
        return False
    a, b = _num(v), _num(operand)
    if a is not None and b is not None:
        return a == b
    return v == operand


def same(a: Any, b: Any) -> bool:
    """Whether writing `b` over `a` would change nothing (``3`` vs ``3.0``; one instant in two zones)."""
    if a == b and (type(a) is type(b) or not isinstance(a, bool) and not isinstance(b, bool)):
        return True
    if a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        if len(a) >= 16 and len(b) >= 16 and a[4:5] == "-" and b[4:5] == "-":
            ta, tb = parse_time(a, need_zone=False), parse_time(b, need_zone=False)
            return ta is not None and ta == tb
        return False
    return equal(a, b)


class CoerceError(ValueError):
    pass


def coerce(value: Any, info: FieldInfo | None) -> Any:
    """Convert a wanted value to the field's kind; raises CoerceError when it cannot be one."""
    if info is None:
        return value
    kind = info.kind
    if kind in ("text", "picklist"):
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if kind == "number":
        if isinstance(value, bool):
            raise CoerceError(f"{value!r} is not a number")
        if isinstance(value, (int, float)):
            return value
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise CoerceError(f"{value!r} is not a number") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise CoerceError(f"{value!r} is not true or false")
    if kind == "date":
        text = str(value).strip()
        if is_date(text):
            return text
        us = parse_time(text, need_zone=False)
        if us is None:
            raise CoerceError(f"{value!r} is not a date (YYYY-MM-DD)")
        return iso_z(us)[:10]
    if kind == "datetime":
        us = parse_time(str(value).strip(), need_zone=False)
        if us is None:
            raise CoerceError(f"{value!r} is not a date-time")
        return iso_z(us)
    return value


class Decision:
    """What one node does to one record: `writes` (field -> value), `kept` ((field, current,
    wanted), ...), `skipped` ((field, reason, detail), ...), `overwritten` (fields, D-WB-4)."""

    __slots__ = ("writes", "kept", "skipped", "overwritten")

    def __init__(self) -> None:
        self.writes: dict[str, Any] = {}
        self.kept: list[tuple[str, Any, Any]] = []
        self.skipped: list[tuple[str, str, str]] = []
        self.overwritten: list[str] = []


def _unsupported(name: str, info: FieldInfo | None, obj: str, create: bool) -> str | None:
    if info is None:
        return f"{obj} has no field {name}"
    if not info.supported:
        return f"{name} is a {info.crm_type} field, which cannot be written (D-FT-2); map a text field instead"
    if create and not info.createable or not create and not info.updateable:
        return f"{name} is read-only on {obj}"
    return None


def decide(*, create: bool, current: Callable[[str], Any], wanted: Iterable[tuple[str, Any]],
           defaults: Mapping[str, Any], owned: frozenset[str], overwrite: frozenset[str] = frozenset(),
           schema: ObjectSchema | None = None, obj: str = "", cache: dict | None = None) -> Decision:
    """Apply the policy for one node on one record.

    Args:
        create: the record is being created (D-WB-3): every value is written.
        current: field -> the value the record holds now (as earlier writes left it).
        wanted: (field, value) the node maps, values already rendered ("" for an empty template).
        defaults: the node's defaults over the integration's (D-WB-7).
        owned: the integration's owned fields (D-WB-1).
        overwrite: the node's per-field opt-in (D-WB-4).
        schema: the target object's field metadata, when known.
        cache: optional dict the caller keeps per `schema` to remember field checks (speed only).
    """
    d = Decision()
    writes = d.writes
    mapped: set[str] = set()

    if any(type(v) is RenderFailed for v in defaults.values()):  # a templated default that failed
        for name, v in defaults.items():
            if type(v) is RenderFailed:
                d.skipped.append((name, "template_error", f"{v.code} {v.message} (default value)"))
        defaults = {k: v for k, v in defaults.items() if type(v) is not RenderFailed}

    for name, v in wanted:
        mapped.add(name)
        if type(v) is RenderFailed:  # D-OPS-3: a template that failed is reported, never written
            d.skipped.append((name, "template_error", f"{v.code} {v.message}"))
            continue
        info = None
        if schema is not None:
            info = schema.fields.get(name)
            if cache is None:
                why = _unsupported(name, info, obj, create)
            else:
                key = (name, create)
                why = cache[key] if key in cache else cache.setdefault(key, _unsupported(name, info, obj, create))
            if why:
                d.skipped.append((name, "unsupported_field", why))
                continue
        from_default = False  # D-WB-7: a default never overwrites, not even under the opt-in
        if is_blank(v):
            v = defaults.get(name)
            if is_blank(v):
                continue
            from_default = True
        try:
            v = coerce(v, info)
        except CoerceError as exc:
            dv = defaults.get(name)
            try:
                v = coerce(dv, info) if not is_blank(dv) else None
            except CoerceError:
                v = None
            if v is None:
                d.skipped.append((name, "crm_rejected", f"{exc}; {name} is a {info.crm_type} field"))
                continue
            from_default = True
        if info is not None and info.kind == "picklist" and v not in info.picklist_values:
            dv = defaults.get(name)
            if dv is not None and str(dv) in info.picklist_values:
                v = str(dv)  # D-FT-3: a value the picklist does not allow is replaced by the default
                from_default = True
            else:
                why = "it has no default" if dv is None else f"its default '{dv}' is not one either"
                d.skipped.append((name, "invalid_picklist_value",
                                  f"'{v}' is not a value of picklist {name} and {why}"))
                continue
        if create:
            writes[name] = v
            continue
        cur = current(name)
        if is_blank(cur):  # D-WB-2
            writes[name] = v
        elif same(cur, v):
            continue
        elif name in owned:  # D-WB-1
            writes[name] = v
        elif name in overwrite and not from_default:  # D-WB-4 opt-in: the node's own value only
            writes[name] = v
            d.overwritten.append(name)
        else:
            d.kept.append((name, cur, v))

    for name, dv in defaults.items():
        if name in mapped or is_blank(dv):
            continue
        info = None
        if schema is not None:
            info = schema.fields.get(name)
            if info is None or _unsupported(name, info, obj, create):
                continue  # e.g. an integration default for a Lead-only field, writing a Contact
        try:
            dv = coerce(dv, info)
        except CoerceError:
            continue
        if info is not None and info.kind == "picklist" and dv not in info.picklist_values:
            d.skipped.append((name, "invalid_picklist_value", f"default '{dv}' is not a value of picklist {name}"))
            continue
        if create:
            d.writes[name] = dv
            continue
        cur = current(name)
        if is_blank(cur):
            d.writes[name] = dv
        elif not same(cur, dv):
            d.kept.append((name, cur, dv))  # D-WB-7: a default never overwrites
    return d


class NetWrites:
    """The net effect of many decisions: one field map per record per Play node, where a field
    written by several entries stays only in the entry that wrote it last (so the entries can be
    applied in any order), plus an overlay per record of every value written so far (what later
    events see). Plain dicts, strings and tuples of atoms only: nothing for the garbage collector.
    """

    __slots__ = ("fields", "meta", "overwritten", "owner", "overlay")

    def __init__(self) -> None:
        self.fields: dict[str, dict[str, Any]] = {}  # write key -> field -> value
        self.meta: dict[str, tuple] = {}  # write key -> caller's description (play, node, record, ...)
        self.overwritten: dict[str, tuple[str, ...]] = {}  # write key -> fields written by the opt-in
        self.owner: dict[str, dict[str, str]] = {}  # record key -> field -> write key that wrote it last
        self.overlay: dict[str, dict[str, Any]] = {}  # record key -> field -> value written so far

    def add(self, record_key: str, write_key: str, meta: tuple, writes: Mapping[str, Any],
            overwritten: Iterable[str] = ()) -> None:
        fields = self.fields.get(write_key)
        if fields is None:
            fields = self.fields[write_key] = {}
            self.meta[write_key] = meta
        ov = self.overlay.get(record_key)
        if ov is None:
            ov = self.overlay[record_key] = {}
        owners = self.owner.get(record_key)
        if owners is None:
            owners = self.owner[record_key] = {}
        all_fields = self.fields
        for f, v in writes.items():
            fields[f] = v
            ov[f] = v
            prev = owners.get(f)
            if prev is not None and prev != write_key:
                all_fields[prev].pop(f, None)  # only the last writer keeps the field
            owners[f] = write_key
        if overwritten:
            had = self.overwritten.get(write_key, ())
            self.overwritten[write_key] = had + tuple(f for f in overwritten if f not in had)

    def __len__(self) -> int:
        return len(self.fields)
