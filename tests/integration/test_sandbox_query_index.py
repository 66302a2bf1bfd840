"""SOQL `=` / `IN` answered from the sandbox's equality index, through simple-salesforce: the same
rows in the same order as a full scan (the scan is forced by wrapping the condition in `NOT (NOT
...)`, which carries no index hint), kept current across create / update / delete / load, for
text, id (15 and 18 characters), number, boolean-null and date-time fields, under AND and OR."""

from __future__ import annotations

from datetime import date

import pytest

from sandbox import soql
from sandbox.metadata import all_salesforce

N = 2000
ID = "00Q000000000{:03d}AAA"  # 18 characters; the first 15 name the record


def lead(i: int) -> dict:
    rec = {"Id": ID.format(i), "LastName": f"L{i}", "Company": f"Co{i % 7}",
           "Email": f"lead{i}@Bench.io", "NumberOfEmployees": i % 13,
           "LastModifiedDate": f"2026-11-{1 + i % 28:02d}T00:00:00Z"}
    if i % 5 == 0:
        rec["Email"] = None
    if i % 3 == 0:
        rec["HasOptedOutOfEmail"] = True
    return rec


@pytest.fixture
def sf(clean_sandbox, sandbox_sf):
    clean_sandbox.load({"salesforce": {"Lead": [lead(i) for i in range(900)] + [
        {"LastName": f"X{i}", "Company": "Bulk", "Email": f"x{i}@bulk.io"} for i in range(N)]}})
    return sandbox_sf


def rows(sf, where: str) -> list[tuple]:
    got = sf.query_all(f"SELECT Id, Email FROM Lead WHERE {where}")["records"]
    return [(r["Id"], r["Email"]) for r in got]


def same_as_scan(sf, where: str) -> list[tuple]:
    indexed, scanned = rows(sf, where), rows(sf, f"NOT (NOT ({where}))")
    assert indexed == scanned, where
    return indexed


def test_in_and_equals_match_a_full_scan(sf) -> None:
    emails = ", ".join(f"'LEAD{i}@bench.IO'" for i in range(0, 800, 4))  # 200 values
    hits = same_as_scan(sf, f"Email IN ({emails})")
    assert [e for _i, e in hits] == [f"lead{i}@Bench.io" for i in range(0, 800, 4) if i % 5]
    assert len(same_as_scan(sf, "Email = 'X17@BULK.io'")) == 1
    assert len(same_as_scan(sf, "Email = null")) == 180
    assert len(same_as_scan(sf, "HasOptedOutOfEmail = false")) == 600 + N  # null is false
    assert len(same_as_scan(sf, "NumberOfEmployees IN (0, 12)")) == 70 + 69
    assert len(same_as_scan(sf, "LastModifiedDate = 2026-11-03T00:00:00Z")) == 33
    ids15 = ", ".join(f"'{ID.format(i)[:15]}'" for i in (5, 6, 7))
    ids18 = ", ".join(f"'{ID.format(i)}'" for i in (7, 6, 5))
    assert [i for i, _e in same_as_scan(sf, f"Id IN ({ids15})")] == [
        ID.format(i) for i in (5, 6, 7)]
    assert same_as_scan(sf, f"Id IN ({ids18})") == same_as_scan(sf, f"Id IN ({ids15})")
    assert len(same_as_scan(sf, "Company = 'co3' AND Email IN ('lead3@bench.io', 'lead10@bench.io')"
                            )) == 1
    assert len(same_as_scan(sf, "Email = 'lead1@bench.io' OR Id = '00Q000000000002AAA' OR "
                            "(Company = 'Bulk' AND Email = 'x1@bulk.io')")) == 3
    assert len(same_as_scan(sf, "Email = 'lead1@bench.io' OR Company = 'Bulk'")) == N + 1
    assert len(same_as_scan(sf, "Email NOT IN ('lead1@bench.io') AND Company = 'Co1'")) == 129 - 1


def test_index_follows_writes_and_loads(sf, clean_sandbox) -> None:
    assert rows(sf, "Email = 'lead1@bench.io'") == [(ID.format(1), "lead1@Bench.io")]  # built
    sf.Lead.update(ID.format(1), {"Email": "Moved@Bench.io"})
    assert rows(sf, "Email = 'lead1@bench.io'") == []
    assert rows(sf, "Email IN ('moved@bench.io')") == [(ID.format(1), "Moved@Bench.io")]
    made = sf.Lead.create({"LastName": "New", "Company": "Co1", "Email": " lead1@Bench.io"})
    assert rows(sf, "Email = 'LEAD1@BENCH.IO'") == [(made["id"], "lead1@Bench.io")]
    assert len(rows(sf, "Company = 'Co1'")) == 129 + 1
    sf.Lead.delete(made["id"])
    assert rows(sf, "Email = 'lead1@bench.io'") == []
    deleted = sf.query_all("SELECT Id FROM Lead WHERE Email = 'lead1@bench.io'",
                           include_deleted=True)
    assert [r["Id"] for r in deleted["records"]] == [made["id"]]
    clean_sandbox.load({"salesforce": {"Lead": [{"Id": ID.format(1), "LastName": "Again",
                                                 "Company": "C", "Email": "lead1@bench.io"}]}})
    assert rows(sf, "Email = 'lead1@bench.io'") == [(ID.format(1), "lead1@bench.io")]
    assert rows(sf, "Email = 'moved@bench.io'") == [] and rows(sf, "Company = 'Co1'") == []


def test_hints_name_only_conditions_every_match_meets() -> None:
    describes = all_salesforce()

    def hint(where: str):
        parsed = soql.parse(f"SELECT Id FROM Lead WHERE {where}", describes.get, date(2026, 11, 20))
        return None if parsed.hint is None else [(f, sorted(map(str, keys)))
                                                   for f, _t, keys in parsed.hint]

    assert hint("Email IN ('A@x.io', 'b@x.io')") == [("Email", ["a@x.io", "b@x.io"])]
    assert hint("Company = 'Big' AND Email = 'A@x.io'") in ([("Email", ["a@x.io"])],
                                                            [("Company", ["big"])])
    assert hint("Email = 'a@x.io' OR Id = '00Q000000000001AAA'") == [
        ("Email", ["a@x.io"]), ("Id", ["00q000000000001"])]
    for no_hint in ("Email = 'a@x.io' OR Company LIKE 'B%'", "NOT Email = 'a@x.io'",
                    "Email != 'a@x.io'", "Email NOT IN ('a@x.io')", "NumberOfEmployees > 3"):
        assert hint(no_hint) is None, no_hint
