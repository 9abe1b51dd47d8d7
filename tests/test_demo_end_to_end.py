"""`make demo` end to end: the real job (dlt load of the bundled sample -> source freshness -> dbt build ->
report) in a child process against a throwaway database, as a user would run it.

CI runs this twice: on the embedded Postgres 18 and, with RT_TEST_DB_URL, on the machine's Postgres 15.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rapidtrader import PROJECT_ROOT
from tests.conftest import query

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MARTS = [
    "bars_daily",
    "bars_quarantine",
    "symbols",
    "indicators_daily",
    "signals_daily",
    "market_state",
    "portfolio_daily",
]


@pytest.fixture(scope="module")
def demo(scratch_db, tmp_path_factory):
    url = scratch_db("demo")
    out = tmp_path_factory.mktemp("demo")
    env = dict(
        os.environ,
        RT_DB_URL=url.url,
        RT_LOG_DIR=str(out / "logs"),
        RT_REPORT_DIR=str(out / "reports"),
        RT_PROGRESS="0",
    )
    env.pop("RT_ALERT_WEBHOOK_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "rapidtrader.jobs.eod", "--demo"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return url, out, result


def test_demo_exits_cleanly_and_says_how_to_query(demo):
    _, _, result = demo
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "select symbol, count(*)" in result.stdout.lower()


def test_every_step_is_in_job_log(demo):
    url, _, _ = demo
    rows = query(url, "select job_name, status from job_log order by id")
    names = [r[0] for r in rows]
    for step in ("eod_run", "ingest_sample", "source_freshness", "dbt_build"):
        assert step in names
    assert all(status == "success" for name, status in rows if name in ("ingest_sample", "dbt_build", "eod_run"))


def test_marts_are_built_and_queryable_by_bare_name(demo):
    url, _, _ = demo
    for mart in MARTS:
        (n,) = query(url, f"select count(*) from {mart}")[0]  # noqa: S608 - fixed names
        assert n > 0, mart


def test_the_report_is_written(demo):
    _, out, _ = demo
    reports = list(Path(out / "reports").rglob("*.html"))
    assert reports, "no HTML report written"
    assert reports[0].stat().st_size > 10_000  # charts embedded as images


def _readme_queries() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Analyst access", 1)[1]
    block = section.split("```sql", 1)[1].split("```", 1)[0]
    body = "\n".join(line for line in block.splitlines() if not line.strip().startswith("--"))
    return [q.strip() for q in body.split(";") if q.strip()]


def test_readme_example_queries_run(demo):
    url, _, _ = demo
    queries = _readme_queries()
    assert len(queries) >= 10
    for sql in queries:
        query(url, sql)  # raises on a wrong table or column name


# Digests of every mart of the bundled sample (tests/marts_digest.py): the one taken before point-in-time
# membership, costs and exact ties, and the one taken after them, which every later change keeps.
DIGESTS = PROJECT_ROOT / "tests" / "fixtures" / "digests"
BEFORE_MEMBERSHIP = DIGESTS / "sample_marts_before_membership.json"
DIGEST = DIGESTS / "sample_marts.json"
# past members and renamed tickers whose bars were quarantined as symbol_not_in_universe and are now clean
NEWLY_CLEAN = {"PCLN", "CBG", "HCN", "CHK", "PDCO", "SIG", "SNI"}
# the six SMA "crosses" that were float noise (sma_fast == sma_slow in exact arithmetic)
TIES = {"AET", "DIS", "PKI", "SEE", "SYY", "TPR"}


def test_every_mart_equals_the_stored_digest(demo):
    """The bundled sample's marts, and a backtest over it, equal row for row what the project computed
    when point-in-time membership, costs and the incremental nightly landed
    (tests/fixtures/digests/sample_marts.json), on PostgreSQL 15 and 18 alike."""
    import json

    from tests.marts_digest import compare

    url, out, result = demo
    assert result.returncode == 0
    env = dict(os.environ, RT_DB_URL=url.url, RT_LOG_DIR=str(out / "logs"), RT_PROGRESS="0")
    backtest = subprocess.run(
        [sys.executable, "-m", "rapidtrader.jobs.backtest", "--start", "2014-01-02", "--end", "2018-02-07"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert backtest.returncode == 0, backtest.stdout[-3000:] + backtest.stderr[-2000:]
    # the window reaches dbt in the environment, not as vars: the backtest reuses the nightly build's parse
    assert "Unable to do partial parsing" not in backtest.stdout, backtest.stdout[:2000]
    assert compare(json.loads(DIGEST.read_text()), url) == []


def test_point_in_time_membership_and_ties_change_only_what_they_should(demo):
    """Against the digest taken before: bars, quarantine and indicators differ only for the symbols that
    point-in-time membership made clean, and the signals only for those and the six float-noise ties."""
    import json

    from tests.marts_digest import differing_symbols

    url, _, result = demo
    assert result.returncode == 0
    stored = json.loads(BEFORE_MEMBERSHIP.read_text())
    moved = differing_symbols(
        stored,
        url,
        ["marts.bars_daily", "marts.bars_quarantine", "marts.indicators_daily", "marts.signals_daily"],
    )
    assert moved["marts.bars_daily"] == NEWLY_CLEAN
    assert moved["marts.bars_quarantine"] == NEWLY_CLEAN
    assert moved["marts.indicators_daily"] == NEWLY_CLEAN
    assert moved["marts.signals_daily"] == NEWLY_CLEAN | TIES


def test_with_costs_off_and_the_latest_list_the_ledger_is_the_one_before_costs(demo):
    """On the whole bundled sample: the ledger functions with every cost, the volume cap and delistings at
    0 and RT_UNIVERSE_MODE=current give, to the cent, the ledger of the functions as they were before
    (tests/fixtures/ledger_v1) on the same inputs. The only extra rows are the qty-0 orders that now name
    not_in_universe for symbols outside the latest list (before, those symbols were not candidates)."""
    from decimal import Decimal

    from rapidtrader.db import connect

    url, _, result = demo
    assert result.returncode == 0
    text = (PROJECT_ROOT / "tests" / "fixtures" / "ledger_v1" / "ledger_functions.sql").read_text()
    body = text.split("{% macro ledger_create_functions() %}", 1)[1].split("{% endmacro %}", 1)[0]
    settings = {
        "run_id": 1,
        "capital": Decimal("100000.0"),
        "atr_stop_k": Decimal("3.0"),
        "enable_stop": True,
        "cooldown_days": 1,
        "pct_per_trade": Decimal("0.05"),
        "daily_risk_cap": Decimal("0.005"),
        "max_sector": Decimal("0.3"),
    }
    costs_off = {
        "universe_mode": "current",
        "slippage_bps": 0,
        "commission_min": 0,
        "commission_per_share": 0,
        "commission_max_pct": 0,
        "max_participation": 0,
        "delist_sessions": 0,
    }
    import json

    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(body)
            # before: only the latest list was tradable, every day
            cur.execute(
                "create temp view v1_symbols as select symbol, sector, is_tradable and is_current_member "
                "as is_tradable from marts.symbols"
            )
            cur.execute(
                "select (a.entry).* from udf.rt_ledger_advance_v1('marts.bars_daily', 'marts.signals_daily', "
                "'marts.market_state', 'v1_symbols', null, null, null, %s::jsonb, true) as a",
                (json.dumps([settings], default=str),),
            )
            names = [c.name for c in cur.description]
            before = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            cur.execute(
                "select (a.entry).* from udf.rt_ledger_advance_v2('marts.bars_daily', 'marts.signals_daily', "
                "'marts.market_state', 'marts.symbols', 'marts.universe_membership', null, null, null, "
                "%s::jsonb, true) as a",
                (json.dumps([{**settings, **costs_off}], default=str),),
            )
            names = [c.name for c in cur.description]
            after = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.rollback()
        conn.close()

    def key(r: dict) -> tuple:
        return tuple(str(r[k]) for k in ("d", "record_type", "symbol", "side", "event", "seq"))

    def is_extra(r: dict) -> bool:
        return r["record_type"] == "order" and r["reason"] == "not_in_universe"

    extra = [r for r in after if is_extra(r)]
    kept = {key(r): r for r in after if not is_extra(r)}
    assert all(r["qty"] == 0 for r in extra)
    assert len(before) == len(kept) > 100_000
    for old in before:
        new = kept[key(old)]
        assert {k: new[k] for k in old} == old, key(old)


def test_the_full_history_checks_pass_on_the_sample(demo):
    """`make test-dq-full`: every test, those the nightly leaves out (tag full_history: the staging views and
    the bar pipeline's step views) and the batch-scoped ones over every row, passes on the demo warehouse."""
    url, out, result = demo
    assert result.returncode == 0
    env = dict(os.environ, RT_DB_URL=url.url, RT_LOG_DIR=str(out / "logs"), RT_PROGRESS="0", RT_TEST_FULL_HISTORY="1")
    full = subprocess.run(
        [sys.executable, "-m", "rapidtrader.dbt_runner", "test"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert full.returncode == 0, full.stdout[-5000:]
    for left_out_nightly in ("expect_unique_combination_stg_sample__bars", "not_null_int_bars_checked_is_clean"):
        assert f"PASS {left_out_nightly}" in full.stdout


# --- parameter sweep (issue 11), last: it adds the sweep marts and rebuilds the signals per run ---------

SWEEP_START, SWEEP_END = "2016-07-01", "2017-06-30"
SWEEP_RUNS: list[dict[str, str]] = [
    {},  # the current settings
    {"RT_RSI_BUY": "25", "RT_ATR_STOP_K": "2"},
    # every group at once: RSI levels, confirmation, the SMA windows, the market filter, stops and cooldown,
    # sizing, the sector cap, costs, the volume cap, the universe, delistings, capital
    {
        "RT_RSI_BUY": "35",
        "RT_RSI_SELL": "60",
        "RT_CONFIRM_WINDOW": "4",
        "RT_CONFIRM_MIN_COUNT": "3",
        "RT_SMA_FAST": "50",
        "RT_SMA_SLOW": "200",
        "RT_SMA_CONFIRM_DAYS": "3",
        "RT_MARKET_FILTER_ENABLE": "0",
        "RT_ATR_STOP_K": "2.5",
        "RT_COOLDOWN_DAYS_ON_STOP": "3",
        "RT_PCT_PER_TRADE": "0.04",
        "RT_DAILY_RISK_CAP": "0.008",
        "RT_MAX_EXPOSURE_PER_SECTOR": "0.2",
        "RT_SLIPPAGE_BPS": "10",
        "RT_COMMISSION_MIN": "2",
        "RT_COMMISSION_PER_SHARE": "0.01",
        "RT_MAX_PARTICIPATION": "0.01",
        "RT_UNIVERSE_MODE": "current",
        "RT_DELIST_SESSIONS": "3",
        "RT_START_CAPITAL": "250000",
    },
    {"RT_ENABLE_SIGNAL_CONFIRM": "0", "RT_ENABLE_ATR_STOP": "0", "RT_SMA_FAST": "20", "RT_SMA_SLOW": "50"},
]
LEDGER_COLUMNS = (
    "d, record_type, seq, symbol, side, qty, ordered_qty, price, status, reason, event, strategy, rank, size, "
    "strength, atr, sector, entry_d, entry_price, stop_price, close, market_value, cash_open, cash, equity, "
    "bull_gate, commission, slippage, bars_missing"
)


def _env(url, out, **settings: str) -> dict[str, str]:
    env = dict(os.environ, RT_DB_URL=url.url, RT_LOG_DIR=str(out / "logs"), RT_REPORT_DIR=str(out / "reports"))
    env.pop("RT_ALERT_WEBHOOK_URL", None)
    return {**env, "RT_PROGRESS": "0", **settings}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return result


def _backtest(url, out, start: str, end: str, settings: dict[str, str]) -> None:
    """`make backtest` with these settings: the signals and the market gate rebuilt under them first."""
    env = _env(url, out, **settings)
    # the views over signals_decided too (signals_daily, the ledger's int_ledger_signals): a full refresh of
    # signals_decided drops them
    models = ["signals_decided", "signals_daily", "int_ledger_signals", "market_state"]
    _run(["rapidtrader.dbt_runner", "run", "--full-refresh", "--select", *models], env)
    _run(["rapidtrader.jobs.backtest", "--start", start, "--end", end], env)


def _rows(url, sql: str, params: tuple = ()) -> list[tuple]:
    from rapidtrader.db import connect

    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return sorted(tuple(str(v) for v in row) for row in cur.fetchall())
    finally:
        conn.close()


def _lean(relation: str, where: str) -> str:
    """The rows a lean (sweep) run keeps: days, fills, events, placed orders, the last day's positions."""
    return (
        f"select {LEDGER_COLUMNS} from {relation} as l where {where} and (record_type in ('day', 'fill', 'event')"
        " or (record_type = 'order' and qty > 0) or (record_type = 'position' and d = (select max(x.d) from"
        f" {relation} as x where {where.replace('l.', 'x.')} and x.record_type = 'day')))"
    )


def _metrics(url, relation: str, where: str, params: tuple = ()) -> list[tuple]:
    from rapidtrader.db import connect
    from tests.marts_digest import _columns

    conn = connect(url)
    with conn.cursor() as cur:
        columns = [c for c in _columns(cur, "marts.backtest_summary")]
    conn.close()
    return _rows(url, f"select {', '.join(columns)} from {relation} where {where}", params)  # noqa: S608


@pytest.fixture(scope="module")
def sweep(demo, tmp_path_factory):
    """One sweep of SWEEP_RUNS with FOLDS=2 through `python -m rapidtrader.jobs.sweep --grid`."""
    from rapidtrader.db import connect
    from tests.marts_digest import table_digest

    url, out, result = demo
    assert result.returncode == 0
    names = sorted({name for run in SWEEP_RUNS for name in run})
    grid = tmp_path_factory.mktemp("sweep") / "grid.csv"
    grid.write_text("\n".join([",".join(names), *(",".join(run.get(n, "") for n in names) for run in SWEEP_RUNS)]))

    def ledger_digest() -> dict:
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                return table_digest(cur, "marts.ledger")
        finally:
            conn.close()

    before = ledger_digest()
    args = ["rapidtrader.jobs.sweep", "--grid", str(grid), "--start", SWEEP_START, "--end", SWEEP_END, "--folds", "2"]
    printed = _run(args, _env(url, out)).stdout
    assert ledger_digest() == before, "a sweep must not touch the nightly paper ledger"
    (sweep_id,) = _rows(url, "select max(sweep_id) from marts.sweep_runs")[0]
    return url, out, int(sweep_id), printed


def test_a_sweep_prints_its_best_runs_and_writes_its_page(sweep):
    url, out, sweep_id, printed = sweep
    assert f"Sweep {sweep_id}: {len(SWEEP_RUNS)} runs" in printed and "Walk-forward:" in printed
    page = out / "reports" / f"sweep_{sweep_id}.html"
    assert page.exists() and "Sharpe" in page.read_text()
    rows = _rows(
        url, "select run_no, rt_rsi_buy, rt_universe_mode from marts.sweep_runs where sweep_id = %s", (sweep_id,)
    )
    assert rows == [("1", "30.0", "pit"), ("2", "25.0", "pit"), ("3", "35.0", "current"), ("4", "30.0", "pit")]


def test_the_ledger_shards_split_the_runs_in_signal_set_order(sweep):
    """The pass's two shards take equal shares of the runs in (signal set, run) order, and each shard's
    signals view decides only the signal sets its own runs trade."""
    url, _, sweep_id, _ = sweep
    runs = _rows(
        url,
        "select ledger_shard, signal_set, run_id from intermediate.int_sweep_runs where sweep_id = %s",
        (sweep_id,),
    )
    shards = {shard: [(int(s), int(r)) for sh, s, r in runs if sh == shard] for shard in ("0", "1")}
    assert [len(shards["0"]), len(shards["1"])] == [len(SWEEP_RUNS) // 2, len(SWEEP_RUNS) - len(SWEEP_RUNS) // 2]
    assert max(shards["0"]) < min(shards["1"])
    assert len({s for s, _ in shards["0"]}) < len({s for _, s, _ in runs}), "a shard should skip a set"
    for shard, members in shards.items():
        decided = _rows(url, f"select distinct signal_set from intermediate.int_sweep_signals_shard_{shard}")  # noqa: S608
        assert {int(r[0]) for r in decided} == {s for s, _ in members}, shard


def test_every_sweep_run_equals_make_backtest_with_its_settings(sweep):
    """Orders placed, fills, events, daily cash and equity, the last day's positions, the round trips and
    the report of each run equal, to the cent, `make backtest` run with that run's settings."""
    url, out, sweep_id, _ = sweep
    run_ids = [int(r[0]) for r in _rows(url, "select run_id from marts.sweep_runs where sweep_id = %s", (sweep_id,))]
    for run_id, settings in zip(sorted(run_ids), SWEEP_RUNS, strict=True):
        _backtest(url, out, SWEEP_START, SWEEP_END, settings)
        this_run = f"l.sweep_id = {sweep_id} and l.block = 0 and l.run_id = {run_id}"
        expected = _rows(url, _lean("marts.backtest_ledger", "true"))
        got = _rows(url, _lean("intermediate.int_sweep_ledger", this_run))
        assert len([r for r in expected if r[1] == "fill"]) > 50, settings
        assert got == expected, settings
        summary_where = f"sweep_id = {sweep_id} and run_id = {run_id}"
        assert _metrics(url, "marts.sweep_summary", summary_where) == _metrics(url, "marts.backtest_summary", "true")
        trades = "symbol, trade_no, entry_d, entry_price, qty, exit_d, exit_side, exit_price, is_open, pnl, commission"
        assert _rows(url, f"select {trades} from marts.sweep_trades where {summary_where}") == _rows(  # noqa: S608
            url,
            f"select {trades} from marts.backtest_trades",  # noqa: S608
        )


def test_walk_forward_picks_in_sample_and_reports_the_next_block(sweep):
    """FOLDS=2: three blocks of equal session count (the remainder in the last); fold i's run has the best
    in-sample Sharpe of block i, and its out-of-sample figures are a backtest of that run over block i+1."""
    url, out, sweep_id, _ = sweep
    sessions = [
        r[0] for r in _rows(url, "select d from marts.market_state where d between %s and %s", (SWEEP_START, SWEEP_END))
    ]
    size = len(sessions) // 3
    blocks = [sessions[:size], sessions[size : 2 * size], sessions[2 * size :]]
    folds = _rows(
        url,
        "select fold, is_first_d, is_last_d, oos_first_d, oos_last_d, run_id, oos_total_return, oos_sharpe,"
        " chained_oos_return from marts.sweep_walkforward where sweep_id = %s",
        (sweep_id,),
    )
    assert [f[:5] for f in folds] == [
        (str(i + 1), blocks[i][0], blocks[i][-1], blocks[i + 1][0], blocks[i + 1][-1]) for i in range(2)
    ]
    for fold in folds:
        sharpes = _rows(
            url,
            "select run_id, sharpe from intermediate.int_sweep_metrics"
            " where sweep_id = %s and block = %s and portfolio = 'strategy'",
            (sweep_id, int(fold[0])),
        )
        best = max(sharpes, key=lambda r: (float(r[1]) if r[1] != "None" else float("-inf"), -int(r[0])))
        assert fold[5] == best[0]
    # fold 1's out-of-sample figures: a backtest of the chosen run alone over block 2
    chosen = int(folds[0][5])
    (run_no,) = _rows(url, "select run_no from marts.sweep_runs where run_id = %s", (chosen,))[0]
    _backtest(url, out, blocks[1][0], blocks[1][-1], SWEEP_RUNS[int(run_no) - 1])
    (total_return, sharpe) = _rows(
        url, "select total_return, sharpe from marts.backtest_summary where portfolio = 'strategy'"
    )[0]
    assert (folds[0][6], folds[0][7]) == (total_return, sharpe)
    chained = (1 + float(folds[0][6])) * (1 + float(folds[1][6])) - 1
    assert float(folds[1][8]) == pytest.approx(chained, rel=1e-12)


def test_dropping_a_sweep_deletes_its_rows_and_no_other(sweep):
    """`jobs.sweep --drop N`: every stored row of sweep N goes (requests, ledger shards, daily rows, trades,
    metrics), the other sweep's rows and summary stay as they were, and an unknown sweep deletes nothing."""
    url, out, sweep_id, _ = sweep
    env = _env(url, out)
    _run(["rapidtrader.jobs.sweep", "--param", "RT_RSI_BUY=30,35", "--start", SWEEP_START, "--end", SWEEP_END], env)
    (dropped,) = _rows(url, "select max(sweep_id) from marts.sweep_runs")[0]
    assert int(dropped) == sweep_id + 1
    tables = [
        r[0]
        for r in _rows(
            url,
            "select c.table_schema || '.' || c.table_name from information_schema.columns as c"
            " inner join information_schema.tables as t using (table_schema, table_name)"
            " where c.column_name = 'sweep_id' and t.table_type = 'BASE TABLE'"
            " and c.table_schema in ('intermediate', 'ops')",
        )
    ]
    assert {"ops.sweep_requests", "intermediate.int_sweep_ledger_shard_0", "intermediate.int_sweep_daily"} <= set(
        tables
    )

    def counts(which: int) -> dict[str, int]:
        return {t: int(_rows(url, f"select count(*) from {t} where sweep_id = %s", (which,))[0][0]) for t in tables}  # noqa: S608

    kept_before = counts(sweep_id)
    (dropped_last_run,) = _rows(url, "select max(run_id) from ops.sweep_requests where sweep_id = %s", (dropped,))[0]
    summary = "select * from marts.sweep_summary where sweep_id = %s order by run_id, portfolio"
    summary_before = _rows(url, summary, (sweep_id,))
    assert all(n > 0 for n in counts(int(dropped)).values())

    printed = _run(["rapidtrader.jobs.sweep", "--drop", dropped], env).stdout
    assert f"Dropped sweep {dropped}" in printed
    assert all(n == 0 for n in counts(int(dropped)).values())
    assert counts(sweep_id) == kept_before
    assert _rows(url, summary, (sweep_id,)) == summary_before

    again = subprocess.run(
        [sys.executable, "-m", "rapidtrader.jobs.sweep", "--drop", dropped, str(sweep_id)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 1
    assert f"no sweep {dropped} in ops.sweep_requests: nothing deleted" in again.stderr
    assert counts(sweep_id) == kept_before

    # the next sweep gets ids never issued before, although the dropped sweep was the newest
    from rapidtrader.jobs import sweep as sweep_job

    grid = sweep_job.product_grid(["RT_RSI_BUY=30"])
    next_id, next_runs = sweep_job.write_requests(url, grid, sweep_job.check_grid(grid, env), SWEEP_START, SWEEP_END, 0)
    try:
        assert next_id > int(dropped) and min(next_runs) > int(dropped_last_run)
    finally:
        sweep_job.drop_sweeps(url, [next_id])
