"""The ledger through dbt, on a small random market placed where the models read their inputs
(World.load_for_dbt: marts.bars_daily, signals_daily, market_state, symbols and the ledger's signal view):
the nightly `dbt build` advances ledger one day at a time and re-running a night appends nothing; the
backtest model over the same stretch is identical; a risk breach injected into the proposed orders makes
`dbt build` fail and skip orders_eod, and the orders it held back expire unfilled the next night instead of
trading."""

from __future__ import annotations

import pytest

from rapidtrader.db import connect
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import backtest
from tests.conftest import execute, query
from tests.ledger.conftest import random_world, until

pytestmark = pytest.mark.e2e


def _dbt(url, *args: str, ok: bool = True, env: dict[str, str] | None = None):
    result = run_dbt(list(args), url, capture=True, env=env)
    if ok:
        assert result.returncode == 0, result.stdout[-4000:]
    return result


def _nights(url, world, days, select: str) -> None:
    """Night 1 (the first ten days: a fresh account), then one `dbt build --select <select>` per day."""
    until(world, days[9]).load_for_dbt(url)
    _dbt(url, "build", "--select", select)
    for day in days[10:]:
        until(world, day).load_for_dbt(url)
        _dbt(url, "build", "--select", select)


def test_nightly_dbt_parity_and_risk_gate(scratch_db):
    url = scratch_db("ledger_dbt")
    world, days = random_world(n_symbols=10, n_days=14, seed=11)

    # Night 1 (days 1-10: a fresh account), then one night per day; the last night twice.
    _nights(url, world, days, "ledger+")
    before = query(url, "select count(*) from marts.ledger")[0][0]
    rerun = _dbt(url, "build", "--select", "ledger+")
    assert "INSERT 0 0" in rerun.stdout
    assert query(url, "select count(*) from marts.ledger")[0][0] == before
    assert query(url, "select count(distinct d) from marts.ledger")[0][0] == len(days)

    # Everything downstream with its tests (reconciliation, risk limits) passes on the real ledger.
    _dbt(url, "build", "--select", "ledger+", "--exclude", "ledger")
    assert query(url, "select count(*) from marts.fills where status = 'filled'")[0][0] > 5

    # The backtest over the same stretch is the same ledger, row for row.
    _dbt(url, "run", "--select", "backtest_ledger", env=backtest.window_env(str(days[0]), None))
    # (every column of the backtest's ledger; the nightly one also says which build appended a row)
    cols = ", ".join(
        c
        for (c,) in query(
            url,
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'backtest_ledger' order by ordinal_position",
        )
    )
    assert "computed_at" not in cols and "cash" in cols
    diff = query(
        url,
        f"select count(*) from ((select {cols} from marts.ledger except all "  # noqa: S608
        f"select {cols} from marts.backtest_ledger) union all (select {cols} from "
        f"marts.backtest_ledger except all select {cols} from marts.ledger)) as x",
    )[0][0]
    assert diff == 0

    # orders_proposed built night by night (each night reads only its new days and the stored days its
    # cooldown looks back on) equals one built from the whole ledger, cooldown flags included. is_released
    # is left out: the night's orders are marked published after orders_proposed is built (README).
    cols = ", ".join(
        c
        for (c,) in query(
            url,
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'orders_proposed' and column_name not in ('computed_at', 'is_released')",
        )
    )
    assert "in_cooldown" in cols and "signal_close" in cols
    execute(url, f"create table public.orders_nightly as select {cols} from marts.orders_proposed")  # noqa: S608
    cooldown_nights = query(
        url,
        "select count(distinct d) from public.orders_nightly where in_cooldown and d > %s",
        (days[9],),
    )[0][0]
    assert cooldown_nights >= 2  # the look-back across nights was exercised
    assert query(url, "select count(*) from public.orders_nightly where signal_close is null")[0][0] == 0
    _dbt(url, "run", "--select", "orders_proposed", "--full-refresh")
    diff = query(
        url,
        f"select count(*) from ((select {cols} from marts.orders_proposed except all "  # noqa: S608
        f"select * from public.orders_nightly) union all (select * from public.orders_nightly "
        f"except all select {cols} from marts.orders_proposed)) as x",
    )[0][0]
    assert diff == 0

    # Inject a breach: one accepted buy one share above its rule size. The size test fails and orders_eod
    # is skipped, keeping the last published orders.
    published = query(url, "select sum(qty) from marts.orders_eod")[0][0]
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "update marts.ledger set qty = qty + 1 where ctid = (select ctid from "
            "marts.ledger where record_type = 'order' and reason = 'entry' limit 1)"
        )
    conn.close()
    # orders_proposed checks the days it adds; rebuilt from the whole ledger, every day is checked again
    failed = _dbt(url, "build", "--select", "orders_proposed+", "--full-refresh", ok=False)
    assert failed.returncode != 0
    assert "FAIL 1 risk_buy_size_equals_rule" in failed.stdout
    assert "SKIP relation marts.orders_eod" in failed.stdout
    assert query(url, "select sum(qty) from marts.orders_eod")[0][0] == published


def _ledger(url, columns: str, record_type: str, d: str, where: str = "true") -> list[tuple]:
    """`columns` of the ledger's `record_type` rows of day `d` that satisfy `where`."""
    return query(
        url, f"select {columns} from marts.ledger where record_type = %s and d = %s and {where}", (record_type, d)
    )


def test_orders_held_back_by_a_failed_risk_test_expire_unfilled(scratch_db):
    url = scratch_db("ledger_unpublished")
    world, days = random_world(n_symbols=10, n_days=24, seed=11)
    until(world, days[9]).load_for_dbt(url)
    _dbt(url, "build", "--select", "ledger+")

    # Nights go by as usual until one proposes an accepted buy; that night a breach is injected into it,
    # the risk tests fail and orders_eod is not published.
    for i in range(10, len(days) - 1):
        held = days[i]
        until(world, held).load_for_dbt(url)
        _dbt(url, "run", "--select", "ledger")
        buys = _ledger(url, "symbol", "order", held, "reason = 'entry' and side = 'buy'")
        if buys:
            break
        _dbt(url, "build", "--select", "ledger+")
    else:
        pytest.fail("the random market never proposed a buy")
    accepted = _ledger(url, "symbol", "order", held, "qty > 0")
    breach = "where record_type = 'order' and d = %s and symbol = %s"
    execute(url, f"update marts.ledger set qty = qty + 1 {breach}", (held, buys[0][0]))
    failed = _dbt(url, "build", "--select", "orders_proposed+", ok=False)
    assert failed.returncode != 0 and "SKIP relation marts.orders_eod" in failed.stdout
    execute(url, f"update marts.ledger set qty = qty - 1 {breach}", (held, buys[0][0]))

    # The next night nothing the held-back day proposed trades: each order expires as not_published.
    after = days[i + 1]
    until(world, after).load_for_dbt(url)
    _dbt(url, "build", "--select", "ledger+")
    fills = _ledger(url, "symbol, qty, status, reason", "fill", after, "side in ('buy', 'sell')")
    assert sorted(fills) == sorted((s, 0, "expired", "not_published") for (s,) in accepted)
    assert _ledger(url, "count(*)", "event", after, "event in ('ENTRY', 'EXIT')") == [(0,)]
    assert query(url, "select count(*) from marts.orders_eod where d = %s", (held,))[0][0] == 0
    assert query(url, "select count(*) from marts.orders_eod where d = %s", (after,))[0][0] > 0
    [(cash_open, cash)] = _ledger(url, "cash_open, cash", "day", after)
    [(stops,)] = _ledger(url, "coalesce(sum(qty * price - commission), 0)", "fill", after, "side = 'stop'")
    assert cash == cash_open + stops  # only stops (net of their commission) moved cash


def test_the_ledger_tests_check_the_latest_batch_and_test_dq_full_checks_every_day(scratch_db):
    url = scratch_db("ledger_batch")
    world, days = random_world(n_symbols=10, n_days=16, seed=11)
    _nights(url, world, days, "ledger")
    assert query(url, "select count(distinct computed_at) from marts.ledger") == [(len(days) - 9,)]
    tests = ("ledger_cash_reconciles_ledger_computed_at___var_rt_start_capital_float_",)
    full = ("--vars", '{"rt_test_full_history": 1}')  # what `make test-dq-full` sets

    # a day of an earlier batch that no longer adds up: the night's tests do not read it, the full run does
    execute(url, "update marts.ledger set cash = cash + 1 where record_type = 'day' and d = %s", (days[11],))
    assert _dbt(url, "test", "--select", *tests).returncode == 0
    failed = _dbt(url, "test", "--select", *tests, *full, ok=False)
    assert failed.returncode != 0 and "FAIL" in failed.stdout
    execute(url, "update marts.ledger set cash = cash - 1 where record_type = 'day' and d = %s", (days[11],))

    # the same on the newest day: the night's test fails (and names the day)
    execute(url, "update marts.ledger set cash = cash + 1 where record_type = 'day' and d = %s", (days[-1],))
    failed = _dbt(url, "test", "--select", *tests, ok=False)
    assert failed.returncode != 0 and "FAIL 1" in failed.stdout
    execute(url, "update marts.ledger set cash = cash - 1 where record_type = 'day' and d = %s", (days[-1],))

    # a position of the newest day that does not follow from the day before fails the positions test
    execute(
        url,
        "update marts.ledger set qty = qty + 1 where ctid = (select ctid from marts.ledger "
        "where record_type = 'position' and d = %s limit 1)",
        (days[-1],),
    )
    failed = _dbt(url, "test", "--select", "ledger_positions_reconcile_ledger_computed_at", ok=False)
    assert failed.returncode != 0 and "FAIL" in failed.stdout
