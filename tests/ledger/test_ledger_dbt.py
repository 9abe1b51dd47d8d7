"""The ledger through dbt, on a small random market placed where the models read their inputs
(marts.bars_daily, signals_daily, market_state, symbols): nightly `dbt run` advances ledger one day at a
time and re-running a night appends nothing; the backtest model over the same stretch is identical; a
risk breach injected into the proposed orders makes `dbt build` fail and skip orders_eod."""

from __future__ import annotations

import json

import pytest

from rapidtrader.db import connect
from rapidtrader.dbt_runner import run_dbt
from tests.conftest import query
from tests.ledger.conftest import random_world, until

pytestmark = pytest.mark.e2e


def _dbt(url, *args: str, ok: bool = True):
    result = run_dbt(list(args), url, capture=True)
    if ok:
        assert result.returncode == 0, result.stdout[-4000:]
    return result


def test_nightly_dbt_parity_and_risk_gate(scratch_db):
    url = scratch_db("ledger_dbt")
    world, days = random_world(n_symbols=10, n_days=14, seed=11)

    # Night 1 (days 1-10: a fresh account), then one night per day; the last night twice.
    until(world, days[9]).load(url, schema="marts")
    _dbt(url, "run", "--select", "ledger")
    for day in days[10:]:
        until(world, day).load(url, schema="marts")
        _dbt(url, "run", "--select", "ledger")
    before = query(url, "select count(*) from marts.ledger")[0][0]
    rerun = _dbt(url, "run", "--select", "ledger")
    assert "INSERT 0 0" in rerun.stdout
    assert query(url, "select count(*) from marts.ledger")[0][0] == before
    assert query(url, "select count(distinct d) from marts.ledger")[0][0] == len(days)

    # Everything downstream with its tests (reconciliation, risk limits) passes on the real ledger.
    _dbt(url, "build", "--select", "ledger+", "--exclude", "ledger")
    assert query(url, "select count(*) from marts.fills where status = 'filled'")[0][0] > 5

    # The backtest over the same stretch is the same ledger, row for row.
    _dbt(url, "run", "--select", "backtest_ledger", "--vars", json.dumps({"rt_backtest_start": days[0]}))
    diff = query(
        url,
        "select count(*) from ((select * from marts.ledger except all "
        "select * from marts.backtest_ledger) union all (select * from "
        "marts.backtest_ledger except all select * from marts.ledger)) as x",
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
    failed = _dbt(url, "build", "--select", "orders_proposed+", ok=False)
    assert failed.returncode != 0
    assert "FAIL 1 risk_buy_size_equals_rule" in failed.stdout
    assert "SKIP relation marts.orders_eod" in failed.stdout
    assert query(url, "select sum(qty) from marts.orders_eod")[0][0] == published
