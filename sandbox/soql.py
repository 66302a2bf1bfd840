"""A SOQL subset for the sandbox: parse a query and run it over a list of records.

Supported: `SELECT f1, f2 | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST],
...] [LIMIT n] [OFFSET n]`, where `cond` combines `f = v`, `!=`, `<>`, `<`, `<=`, `>`, `>=`,
`LIKE 'a%'`, `[NOT] IN (v, ...)`, `INCLUDES/EXCLUDES (...)` with AND, OR, NOT and parentheses.
Values: 'quoted strings', numbers, TRUE/FALSE, NULL, date-time literals (`2026-11-01T00:00:00Z`),
date literals (`2026-11-01`), TODAY, YESTERDAY, LAST_N_DAYS:n. Field names are case-insensitive
and must exist in the describe; string comparisons (`=`, `!=`, `IN`, `NOT IN`, `LIKE`, ordering)
are case-insensitive, as in Salesforce. Errors are `SoqlError(code, message)` with Salesforce's
codes (`MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`).

Speed: `IN` is one set lookup per record, and `Query.hint` names the equality conditions every
match must meet (`f = v` / `f IN (...)` under AND, unions of them under OR) as
`[(field, type, keys)]`, so the caller can fetch candidates from an equality index keyed by
`key_of(type)` (see `Store.sf_index`) instead of scanning the table; `where` still decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Callable

from sandbox.store import parse_dt


class SoqlError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:\\.|[^'\\])*')
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC",
             "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL",
             "INCLUDES", "EXCLUDES"}


@dataclass
class Tok:
    kind: str
    text: str
    value: Any = None


def _tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:pos + 10]}'")
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "ws":
            continue
        if kind == "str":
            value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), raw[1:-1])
            out.append(Tok("str", raw, value))
        elif kind == "word" and raw.upper() in _KEYWORDS:
            out.append(Tok("kw", raw.upper()))
        else:
            out.append(Tok(kind, raw))
    out.append(Tok("end", ""))
    return out


Pred = Callable[[dict[str, Any]], bool]
# Equality conditions a row must meet to match: a union of (field, type, comparison keys).
Hint = list[tuple[str, str, frozenset[Any]]] | None


@dataclass
class Query:
    sobject: str
    fields: list[str]            # canonical names, in SELECT order; empty for COUNT()
    count: bool = False
    where: Pred | None = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, desc, nulls_last)
    limit: int | None = None
    offset: int = 0
    hint: Hint = None            # every match has hint field = one of its keys (see docstring)


class _Parser:
    def __init__(self, text: str, describe_of: Callable[[str], dict[str, Any] | None],
                 today: date):
        self.toks = _tokenize(text)
        self.i = 0
        self.describe_of = describe_of
        self.today = today
        self.types: dict[str, str] = {}
        self.canon: dict[str, str] = {}

    # -- token helpers
    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kw: str) -> bool:
        tok = self.peek()
        if (tok.kind == "kw" and tok.text == kw) or (tok.kind == "punct" and tok.text == kw):
            self.i += 1
            return True
        return False

    def expect(self, kw: str) -> None:
        if not self.accept(kw):
            got = self.peek().text or "end of query"
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{got}', expected {kw}")

    # -- grammar
    def parse(self) -> Query:
        self.expect("SELECT")
        raw_fields: list[str] = []
        count = False
        if self.peek().kind == "word" and self.peek().text.upper() == "COUNT":
            self.take()
            self.expect("(")
            self.expect(")")
            count = True
        else:
            raw_fields.append(self.word())
            while self.accept(","):
                raw_fields.append(self.word())
        self.expect("FROM")
        name = self.word()
        describe = self.describe_of(name)
        if describe is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported. If you are "
                            "attempting to use a custom object, be sure to append the '__c' after"
                            " the entity name.")
        sobject = describe["name"]
        for f in describe["fields"]:
            self.canon[f["name"].lower()] = f["name"]
            self.types[f["name"]] = f["type"]
        fields: list[str] = []
        for raw in raw_fields:
            canon = self.field(raw, sobject)
            if canon not in fields:
                fields.append(canon)
        query = Query(sobject, fields, count=count)
        if self.accept("WHERE"):
            query.where, query.hint = self.or_expr(sobject)
        if self.accept("ORDER"):
            self.expect("BY")
            while True:
                fname = self.field(self.word(), sobject)
                desc = self.accept("DESC") or (self.accept("ASC") and False)
                nulls_last = desc
                if self.accept("NULLS"):
                    nulls_last = self.accept("LAST") or (self.expect("FIRST") or False)
                query.order.append((fname, desc, nulls_last))
                if not self.accept(","):
                    break
        if self.accept("LIMIT"):
            query.limit = self.integer()
        if self.accept("OFFSET"):
            query.offset = self.integer()
        if self.peek().kind != "end":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek().text}'")
        return query

    def word(self) -> str:
        tok = self.take()
        if tok.kind != "word":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text or 'end'}'")
        return tok.text

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "num" or not tok.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"expected a number, got '{tok.text}'")
        return int(tok.text)

    def field(self, raw: str, sobject: str) -> str:
        canon = self.canon.get(raw.lower())
        if canon is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{raw}' on entity '{sobject}'. If "
                            "you are attempting to use a custom field, be sure to append the "
                            "'__c' after the custom field name.")
        return canon

    def or_expr(self, sobject: str) -> tuple[Pred, Hint]:
        parts = [self.and_expr(sobject)]
        while self.accept("OR"):
            parts.append(self.and_expr(sobject))
        if len(parts) == 1:
            return parts[0]
        preds = [p for p, _h in parts]
        hints = [h for _p, h in parts]
        hint = None if any(h is None for h in hints) else [c for h in hints for c in h or []]
        return (lambda r: any(p(r) for p in preds)), hint

    def and_expr(self, sobject: str) -> tuple[Pred, Hint]:
        parts = [self.not_expr(sobject)]
        while self.accept("AND"):
            parts.append(self.not_expr(sobject))
        if len(parts) == 1:
            return parts[0]
        preds = [p for p, _h in parts]
        hints = [h for _p, h in parts if h is not None]
        hint = min(hints, key=lambda h: sum(len(keys) for _f, _t, keys in h)) if hints else None
        return (lambda r: all(p(r) for p in preds)), hint

    def not_expr(self, sobject: str) -> tuple[Pred, Hint]:
        if self.accept("NOT"):
            inner, _hint = self.not_expr(sobject)
            return (lambda r: not inner(r)), None
        if self.accept("("):
            inner = self.or_expr(sobject)
            self.expect(")")
            return inner
        return self.comparison(sobject)

    def comparison(self, sobject: str) -> tuple[Pred, Hint]:
        fname = self.field(self.word(), sobject)
        ftype = self.types[fname]
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            value = self.value(fname, ftype)
            hint = [(fname, ftype, frozenset([_target(ftype, value)]))] if op == "=" else None
            return _compare(fname, ftype, op, value), hint
        if tok.kind == "kw" and tok.text == "LIKE":
            pattern = self.value(fname, "string")
            if not isinstance(pattern, str):
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a quoted string")
            rx = re.compile("^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                                          for c in pattern) + "$", re.I | re.S)
            return (lambda r: isinstance(r.get(fname), str) and bool(rx.match(r[fname]))), None
        negate = False
        if tok.kind == "kw" and tok.text == "NOT":
            negate = True
            tok = self.take()
        if tok.kind == "kw" and tok.text in ("IN", "INCLUDES", "EXCLUDES"):
            self.expect("(")
            values = [self.value(fname, ftype)]
            while self.accept(","):
                values.append(self.value(fname, ftype))
            self.expect(")")
            if tok.text == "IN":
                targets = frozenset(_target(ftype, v) for v in values)
                key = key_of(ftype)
                if negate:
                    return (lambda r: key(r.get(fname)) not in targets), None
                return (lambda r: key(r.get(fname)) in targets), [(fname, ftype, targets)]
            wanted = [{p.strip().lower() for p in str(v).split(";")} for v in values]

            def includes(r: dict[str, Any]) -> bool:
                have = {p.strip().lower() for p in str(r.get(fname) or "").split(";") if p}
                hit = any(w <= have for w in wanted)
                return hit if tok.text == "INCLUDES" else not hit
            return includes, None
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}'")

    def value(self, fname: str, ftype: str) -> Any:
        tok = self.take()
        quoted_ok = ftype in ("id", "reference", "string", "email", "phone", "url", "textarea",
                              "picklist", "multipicklist", "combobox")
        if tok.kind == "kw" and tok.text == "NULL":
            return None
        if tok.kind == "str":
            if not quoted_ok:
                raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{fname}' "
                                f"must be of type {ftype} and should not be enclosed in quotes")
            return tok.value
        if quoted_ok:
            raise SoqlError("MALFORMED_QUERY", f"value of filter criterion for field '{fname}' "
                            "must be a quoted string")
        if tok.kind == "kw" and tok.text in ("TRUE", "FALSE") and ftype == "boolean":
            return tok.text == "TRUE"
        if tok.kind == "num" and ftype in ("double", "int", "currency", "percent"):
            return float(tok.text)
        if tok.kind == "dt" and ftype == "datetime":
            return parse_dt(tok.text)
        if tok.kind == "date" and ftype == "date":
            return date.fromisoformat(tok.text)
        if tok.kind == "word" and ftype in ("date", "datetime"):
            return self.date_literal(tok.text.upper(), ftype)
        raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{fname}' must be "
                        f"of type {ftype}: '{tok.text}'")

    def date_literal(self, word: str, ftype: str) -> Any:
        days = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
        if word in days:
            day = self.today + timedelta(days=days[word])
        elif word in ("LAST_N_DAYS", "NEXT_N_DAYS"):
            self.expect(":")
            n = self.integer()
            day = self.today + timedelta(days=-n if word == "LAST_N_DAYS" else n)
        else:
            raise SoqlError("MALFORMED_QUERY", f"unknown date literal '{word}'")
        if ftype == "date":
            return day
        return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _norm(ftype: str, value: Any) -> Any:
    """A stored value in the comparable form of its type (None stays None)."""
    if value is None:
        return None
    if ftype == "datetime":
        return parse_dt(value)
    if ftype == "date":
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            return None
    if ftype in ("double", "int", "currency", "percent"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if ftype == "boolean":
        return bool(value)
    if isinstance(value, str):
        return value.lower()
    return value


def _key(ftype: str, value: Any) -> Any:
    """A stored value as `=` compares it: `_norm`, null booleans false, 18-character ids cut
    to the 15 characters that name the record."""
    have = _norm(ftype, value)
    if ftype == "boolean" and have is None:
        return False
    if ftype in ("id", "reference") and isinstance(have, str) and len(have) == 18:
        return have[:15]
    return have


_KEY_FNS: dict[str, Callable[[Any], Any]] = {}


def key_of(ftype: str) -> Callable[[Any], Any]:
    """The comparison key function of a field type (one function object per type, so an index
    built with it can be shared by every query on that field)."""
    fn = _KEY_FNS.get(ftype)
    if fn is None:
        fn = _KEY_FNS[ftype] = lambda value: _key(ftype, value)
    return fn


def _target(ftype: str, value: Any) -> Any:
    """A query literal in the form `_key` gives stored values."""
    target = value.lower() if isinstance(value, str) else value
    if ftype in ("id", "reference") and isinstance(target, str) and len(target) == 18:
        target = target[:15]  # 15- and 18-character ids name the same record
    return target


def _compare(fname: str, ftype: str, op: str, value: Any) -> Pred:
    target = _target(ftype, value)
    key = key_of(ftype)
    if op == "=":
        return lambda rec: key(rec.get(fname)) == target
    if op == "!=":
        return lambda rec: key(rec.get(fname)) != target

    def test(rec: dict[str, Any]) -> bool:
        have = key(rec.get(fname))
        if have is None or target is None:
            return False
        try:
            return {"<": have < target, "<=": have <= target, ">": have > target,
                    ">=": have >= target}[op]
        except TypeError:
            return False
    return test


def parse(text: str, describe_of: Callable[[str], dict[str, Any] | None],
          today: date | None = None) -> Query:
    """Parse `text`; `describe_of(name)` gives an object's describe (or None if unknown)."""
    return _Parser(text, describe_of, today or datetime.now(UTC).date()).parse()


def run(query: Query, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Filter, sort and cut `records` as the query says (projection is left to the caller)."""
    rows = [r for r in records if query.where is None or query.where(r)]
    for fname, desc, nulls_last in reversed(query.order):
        rows.sort(key=lambda r, f=fname: _sort_key(r.get(f)), reverse=desc)
        # Nulls go first ascending and last descending unless NULLS says otherwise.
        nulls = [r for r in rows if r.get(fname) is None]
        rest = [r for r in rows if r.get(fname) is not None]
        rows = rest + nulls if nulls_last else nulls + rest
    rows = rows[query.offset:]
    if query.limit is not None:
        rows = rows[:query.limit]
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    parsed = parse_dt(value) if isinstance(value, str) and "T" in value else None
    if parsed is not None:
        return (2, parsed.timestamp())
    return (3, str(value).lower())
