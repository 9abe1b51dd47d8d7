"""Digests of the marts, to prove a change that is not meant to change a result left every row as it was.

    python -m tests.marts_digest write tests/fixtures/digests/sample_marts.json   # store today's digest
    python -m tests.marts_digest compare tests/fixtures/digests/sample_marts.json # compare with the database

A digest is the md5 of every row's text (Postgres prints float8 in its shortest exact form, so equal text
means equal numbers), sorted, per table and, for tables with a symbol column, per symbol, so a mismatch
names the symbols that moved. Columns that record when something ran (loaded_at, computed_at) are left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rapidtrader.db import DbUrl, connect, resolve_db_url

# Columns that say when a row was written, not what it says.
VOLATILE = {"loaded_at", "computed_at"}


def _columns(cur, relation: str) -> list[str]:
    schema, table = relation.split(".")
    cur.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (schema, table),
    )
    return [r[0] for r in cur.fetchall() if r[0] not in VOLATILE]


def table_digest(cur, relation: str, columns: list[str] | None = None, exprs: dict[str, str] | None = None) -> dict:
    """{'columns': [...], 'rows': n, 'md5': ..., 'by_symbol': {symbol: md5}} of one relation. `exprs` reads
    a column through an expression instead (a deliberate change that the digest should not see)."""
    columns = columns or _columns(cur, relation)
    exprs = exprs or {}
    row_text = "row(" + ", ".join(exprs.get(c, f'"{c}"') for c in columns) + ")::text"
    cur.execute(
        f"select count(*), md5(coalesce(string_agg(t, E'\\n' order by t), '')) "  # noqa: S608
        f"from (select {row_text} as t from {relation}) x"
    )
    n, md5 = cur.fetchone()
    out: dict = {"columns": columns, "rows": int(n), "md5": md5}
    if "symbol" in columns:
        cur.execute(
            f"select coalesce(symbol, ''), md5(string_agg(t, E'\\n' order by t)) "  # noqa: S608
            f"from (select symbol, {row_text} as t from {relation}) x group by 1 order by 1"
        )
        out["by_symbol"] = dict(cur.fetchall())
    return out


def digest(url: DbUrl, relations: list[str]) -> dict[str, dict]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            return {rel: table_digest(cur, rel) for rel in relations}
    finally:
        conn.close()


def compare(
    stored: dict[str, dict],
    url: DbUrl,
    renamed: dict[str, str] | None = None,
    exprs: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    """Differences between a stored digest and the database, as readable lines (empty = identical).
    `renamed` maps a stored relation to where it lives now; `exprs` reads columns through expressions."""
    problems: list[str] = []
    renamed, exprs = renamed or {}, exprs or {}
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for rel, want in stored.items():
                now = renamed.get(rel, rel)
                got = table_digest(cur, now, want["columns"], exprs.get(now))
                if got["md5"] == want["md5"] and got["rows"] == want["rows"]:
                    continue
                line = f"{now}: {got['rows']} rows (stored {want['rows']})"
                if "by_symbol" in want:
                    moved = sorted(
                        s
                        for s in set(want["by_symbol"]) | set(got["by_symbol"])
                        if want["by_symbol"].get(s) != got["by_symbol"].get(s)
                    )
                    line += f", {len(moved)} symbols differ: {', '.join(moved[:20])}"
                problems.append(line)
    finally:
        conn.close()
    return problems


def differing_symbols(
    stored: dict[str, dict], url: DbUrl, relations: list[str], renamed: dict[str, str] | None = None
) -> dict[str, set[str]]:
    """Per relation (stored name), the symbols whose rows differ from the stored digest (an added or a
    vanished symbol included)."""
    renamed = renamed or {}
    out: dict[str, set[str]] = {}
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for rel in relations:
                want = stored[rel]
                got = table_digest(cur, renamed.get(rel, rel), want["columns"])
                symbols = set(want["by_symbol"]) | set(got["by_symbol"])
                out[rel] = {s for s in symbols if want["by_symbol"].get(s) != got["by_symbol"].get(s)}
    finally:
        conn.close()
    return out


def stored_tuples(url: DbUrl) -> dict[str, str]:
    """Per table of the warehouse (every schema but ops and the catalogs: raw, dlt's own tables, the models,
    the seeds), the md5 of every row's text with the transaction that wrote it (xmin). A table whose rows
    were deleted and written again with the same values differs: this is "byte for byte", where a digest
    says "the same values"."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select schemaname || '.' || tablename from pg_tables "
                "where schemaname not in ('ops', 'information_schema') and schemaname not like 'pg\\_%' order by 1"
            )
            tables = [r[0] for r in cur.fetchall()]
            out = {}
            for table in tables:
                cur.execute(
                    "select md5(coalesce(string_agg(t, E'\\n' order by t), '')) "  # noqa: S608
                    f"from (select x::text || ' ' || x.xmin::text as t from {table} as x) as rows"
                )
                out[table] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def rewritten(before: dict[str, str], url: DbUrl) -> list[str]:
    """The tables of `stored_tuples` whose rows changed, appeared or vanished since `before`."""
    now = stored_tuples(url)
    return sorted(t for t in set(before) | set(now) if before.get(t) != now.get(t))


def marts_of(url: DbUrl) -> list[str]:
    """Every table of the marts schema, plus the ledger and proposed orders wherever they live."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema = 'marts' or table_name in ('int_ledger', 'int_orders_proposed') order by 1"
            )
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    verb, path = argv[0], Path(argv[1])
    url = resolve_db_url()
    if verb == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(digest(url, marts_of(url)), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")
        return 0
    problems = compare(json.loads(path.read_text()), url)
    print("\n".join(problems) or "identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
