"""Nightly versus backtest, on the function itself: advancing the ledger one night at a time (each night
reading the previous nights' rows as its state) gives exactly the rows of one run over the whole stretch,
and advancing again with no new day returns nothing (re-running the same night changes nothing)."""

from __future__ import annotations

from decimal import Decimal

from rapidtrader.db import connect
from tests.ledger.conftest import advance, advance_into, random_world


def _rows(url, table: str) -> list[tuple]:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(f"select * from {table}")
        rows = cur.fetchall()
    conn.close()
    return sorted(tuple(str(v) for v in r) for r in rows)


def test_night_by_night_equals_one_backtest(ledger_db):
    world, days = random_world(n_symbols=12, n_days=60)
    world.load(ledger_db)
    full = advance(ledger_db, start=days[0])
    assert len(full.of("fill", status="filled")) > 20, "the random market should trade"
    full.check_reconciles(Decimal("100000"))

    conn = connect(ledger_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("drop table if exists stepped; drop table if exists backtest")
    conn.close()
    # First night: a fresh account over the first 5 days; then one night at a time, each reading the table.
    assert advance_into(ledger_db, "stepped", start=days[0], end=days[4]) > 0
    for day in days[5:]:
        assert advance_into(ledger_db, "stepped", end=day) > 0
    # Re-running the last night (and a night with no new bars) appends nothing.
    assert advance_into(ledger_db, "stepped", end=days[-1]) == 0
    assert advance_into(ledger_db, "stepped") == 0

    advance_into(ledger_db, "backtest", start=days[0], end=days[-1])
    assert _rows(ledger_db, "stepped") == _rows(ledger_db, "backtest")
    assert len(_rows(ledger_db, "backtest")) == len(full.rows)
