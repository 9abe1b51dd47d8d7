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
