"""Nightly versus backtest, on the function itself: advancing the ledger one night at a time (each night
reading the previous nights' rows as its state) gives exactly the rows of one run over the whole stretch,
and advancing again with no new day returns nothing (re-running the same night changes nothing). And a
sweep's pass: many runs advanced together give each run exactly the rows it gets alone."""

from __future__ import annotations

from decimal import Decimal

from rapidtrader.db import connect
from tests.ledger.conftest import advance, advance_into, advance_runs, random_world


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


def test_many_runs_in_one_pass_equal_each_run_alone(ledger_db):
    """Twelve runs that differ in every risk and cost setting, advanced in one call as a sweep shard does,
    give each run exactly the rows of that run advanced alone. The call compacts its state tables on a
    cadence that depends on how many runs it holds (every 3 days here, every 25 alone), so this also shows
    that compaction changes no row."""
    world, days = random_world(n_symbols=12, n_days=60, seed=11)
    world.load(ledger_db)
    varied = [
        {},
        {"atr_stop_k": Decimal("1.5")},
        {"enable_stop": False},
        {"cooldown_days": 5},
        {"pct_per_trade": Decimal("0.12")},
        {"daily_risk_cap": Decimal("0.002")},
        {"max_sector": Decimal("0.15")},
        {"slippage_bps": Decimal("12"), "commission_min": Decimal("1")},
        {"commission_per_share": Decimal("0.01"), "commission_max_pct": Decimal("0.01")},
        {"atr_stop_k": Decimal("2"), "pct_per_trade": Decimal("0.08"), "max_sector": Decimal("0.5")},
        {"cooldown_days": 0, "daily_risk_cap": Decimal("0.01")},
        {"enable_stop": False, "max_sector": Decimal("0.2"), "slippage_bps": Decimal("5")},
    ]
    runs = [{**settings, "run_id": 10 + i} for i, settings in enumerate(varied)]
    together = advance_runs(ledger_db, runs, start=days[0])
    assert sorted(together) == [run["run_id"] for run in runs]
    alone = {run["run_id"]: advance_runs(ledger_db, [run], start=days[0])[run["run_id"]] for run in runs}
    assert len({tuple(rows) for rows in alone.values()}) == len(runs), "every setting should change the trades"
    for run in runs:
        assert together[run["run_id"]] == alone[run["run_id"]], run
