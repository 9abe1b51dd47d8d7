"""The runbook's command-line tools, run as a user runs them (subprocesses against a scratch database), and
the runbook's three monitoring queries read verbatim from docs/RUNBOOK.md."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess

import numpy as np
import pytest

from rapidtrader.db import DbUrl
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import dbt_build, eod_trade
from tests.ops import synthetic
from tests.ops.conftest import REPO, child_env, python, sql_rows


@pytest.fixture(scope="module")
def synth(ops_db):
    from rapidtrader.jobs.runner import job_step

    url = ops_db("scripts")
    session = synthetic.build(url)
    with job_step(url, "eod_run", "s-run"), job_step(url, "dbt_build", "s-run"):
        run_dbt(["seed", "--select", "trading_calendar"], url, capture=True, check=True)  # the window tests read it
    # The data-quality verdicts a nightly build records; EEE has no bar on the session, so coverage fails.
    with contextlib.suppress(dbt_build.DbtFailed):
        dbt_build.run(url, "s-dq", ["--select", "tag:dq", "--exclude", "dq_indicator_errors"], job_name="dq_tests")
    return url, session


def run_script(url: DbUrl | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = child_env(url, **env) if url else child_env(DbUrl("postgresql://postgres:x@127.0.0.1:9/none"), **env)
    return subprocess.run([python(), *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)


def runbook_queries() -> dict[int, str]:
    text = (REPO / "docs" / "RUNBOOK.md").read_text()
    found = re.findall(r"<!-- query:(\d) -->\s*```sql\n(.*?)```", text, flags=re.S)
    return {int(n): q.strip() for n, q in found}


def test_runbook_has_the_three_queries():
    q = runbook_queries()
    assert sorted(q) == [1, 2, 3]
    assert q[1].startswith("SELECT symbol, COUNT(*) AS bars, MAX(d) AS last_d FROM bars_daily WHERE d >= CURRENT_DATE")
    assert q[2].startswith("SELECT strategy, direction, COUNT(*) FROM signals_daily WHERE d = (SELECT MAX(d) FROM")
    assert "AVG(finished_at - started_at)" in q[3] and "FROM job_log" in q[3]


def test_runbook_queries_run_verbatim(synth):
    url, _ = synth
    q = runbook_queries()
    sql_rows(url, q[1])
    signals = sql_rows(url, q[2])
    assert {(s, d) for s, d, _ in signals} >= {("COMBINED", "buy"), ("RSI_MR", "sell"), ("SMA_X", "hold")}
    jobs = {r[0]: r for r in sql_rows(url, q[3])}
    assert set(jobs) >= {"eod_run", "dbt_build"} and jobs["eod_run"][1] == 1


def test_runbook_query_1_on_dbt_built_marts(warehouse):
    rows = sql_rows(warehouse, runbook_queries()[1])
    assert rows == []  # the sample ends in 2018: nothing in the last 30 days, and the query still runs


def test_health_check_json_and_exit_codes(synth):
    url, _ = synth
    out = run_script(url, "scripts/health_check.py", "--all", "--json")
    report = json.loads(out.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["database"]["status"] == "OK"
    assert checks["job:eod_run"]["status"] == "OK"
    assert checks["data:completeness"]["status"] == "CRITICAL" and "EEE" in checks["data:completeness"]["detail"]
    assert report["status"] == "CRITICAL" and out.returncode == 2
    text = run_script(url, "scripts/health_check.py").stdout.splitlines()
    assert all(re.match(r"^(OK|WARN|CRITICAL) ", line) for line in text[:-1]) and text[-1].startswith("overall:")


def test_health_check_without_database_says_how_to_fix():
    out = run_script(None, "scripts/health_check.py")
    assert out.returncode == 2 and "CRITICAL database" in out.stdout and "RT_DB_URL" in out.stdout


def test_validate_data_lists_offending_symbols(synth):
    url, session = synth
    out = run_script(url, "scripts/validate_data.py", "--date", session.isoformat())
    assert out.returncode == 1, out.stderr
    assert re.search(r"FAIL\s+coverage .*EEE", out.stdout)
    ok = run_script(url, "scripts/validate_data.py", "--date", "2020-01-01")  # every symbol has that bar? no: weekday
    assert "data quality of session 2020-01-01" in ok.stdout
    bad = run_script(url, "scripts/validate_data.py", "--date", "not-a-date")
    assert bad.returncode == 1 and "YYYY-MM-DD" in bad.stderr


def test_validate_indicators_against_talib(ops_db):
    import talib

    url = ops_db("indicators")
    synthetic.build(url)
    missing = run_script(url, "scripts/validate_indicators.py")
    assert missing.returncode == 1 and "build --select +indicators_daily" in missing.stderr
    sql_rows(
        url,
        "create table marts.indicators_daily (symbol text, d date, adj_close float8, sma_20 float8, sma_50 float8, "
        "sma_100 float8, sma_200 float8, rsi_14 float8, atr_14 float8, is_warm boolean)",
    )
    rng = np.random.default_rng(1)
    for symbol in ("AAA", "BBB"):
        rows = sql_rows(
            url, "select d, adj_high, adj_low, adj_close from bars_daily where symbol = %s order by d", (symbol,)
        )
        close = np.array([float(r[3]) for r in rows]) * (1 + 0.02 * rng.standard_normal(len(rows)))
        sql_rows(
            url,
            "update bars_daily set adj_close = v.c from unnest(%s::date[], %s::float8[]) as v (d, c) "
            "where symbol = %s and bars_daily.d = v.d",
            ([r[0] for r in rows], close.tolist(), symbol),
        )
        high, low = np.array([float(r[1]) + 5 for r in rows]), np.array([float(r[2]) - 5 for r in rows])
        sql_rows(
            url,
            "update bars_daily set adj_high = v.h, adj_low = v.l from unnest(%s::date[], %s::float8[], "
            "%s::float8[]) as v (d, h, l) where symbol = %s and bars_daily.d = v.d",
            ([r[0] for r in rows], high.tolist(), low.tolist(), symbol),
        )
        ind = {f"sma_{n}": talib.SMA(close, n) for n in (20, 50, 100, 200)}
        ind["rsi_14"], ind["atr_14"] = talib.RSI(close, 14), talib.ATR(high, low, close, 14)
        values = [
            (
                symbol,
                r[0],
                float(close[i]),
                *[
                    None if np.isnan(ind[c][i]) else float(ind[c][i])
                    for c in ("sma_20", "sma_50", "sma_100", "sma_200", "rsi_14", "atr_14")
                ],
            )
            for i, r in enumerate(rows)
        ]
        for v in values:
            sql_rows(url, "insert into marts.indicators_daily values (%s, %s, %s, %s, %s, %s, %s, %s, %s, false)", v)
    good = run_script(url, "scripts/validate_indicators.py", "--symbols", "AAA,BBB")
    assert good.returncode == 0, good.stdout + good.stderr
    sql_rows(
        url,
        "update marts.indicators_daily set rsi_14 = rsi_14 + 1e-6 where symbol = 'BBB' and d = "
        "(select max(d) from marts.indicators_daily)",
    )
    sql_rows(
        url,
        "update marts.indicators_daily set sma_20 = 1 where symbol = 'AAA' and sma_20 is null and "
        "d = (select min(d) from marts.indicators_daily)",
    )
    bad = run_script(url, "scripts/validate_indicators.py", "--symbols", "AAA,BBB")
    assert bad.returncode == 1
    assert "rsi_14" in bad.stdout and "where TA-Lib has no value" in bad.stdout


@pytest.mark.parametrize(
    ("mode", "code", "phrase"),
    [
        ("200", 0, "reachable and authorised"),
        ("401", 1, "unauthorised, check RT_FMP_API_KEY"),
        ("429", 1, "rate limited (HTTP 429), retry after 60 s"),
        ("500", 1, "server error (HTTP 500)"),
        ("garbage", 1, "unexpected content"),
    ],
)
def test_test_apis_diagnoses_each_answer(http_stub, mode, code, phrase):
    out = run_script(
        None,
        "scripts/test_apis.py",
        "--verbose",
        RT_FMP_API_KEY="k",
        RT_FMP_BASE_URL=f"{http_stub.base}/{mode}",
        RT_YAHOO_BASE_URL=f"{http_stub.base}/{mode}",
    )
    assert out.returncode == code, out.stdout + out.stderr
    assert phrase in out.stdout
    assert {"fmp", "yahoo"} <= {line.split()[1] for line in out.stdout.splitlines() if line[:4].strip()}


def test_test_apis_offline_and_without_key():
    out = run_script(None, "scripts/test_apis.py", RT_FMP_API_KEY="", RT_YAHOO_BASE_URL="http://127.0.0.1:9")
    assert out.returncode == 1
    assert "RT_FMP_API_KEY is not set" in out.stdout and "looks offline" in out.stdout


def test_db_maintenance(synth):
    url, _ = synth
    out = run_script(url, "scripts/db_maintenance.py", "--vacuum", "--limit", "5")
    assert out.returncode == 0, out.stderr
    assert "vacuum (analyze):" in out.stdout and "database size" in out.stdout


def test_eod_trade_selects_signals_or_signals_and_ledger():
    assert eod_trade.dbt_args(True) == [
        "--select",
        "bars_daily+,+signals_daily",
        "bars_daily+,+market_state",
        "--exclude",
        "bars_daily",
    ]
    assert eod_trade.dbt_args(False) == ["--select", "bars_daily+", "--exclude", "bars_daily"]
