"""One definition of every data-quality rule: the dbt tests in dbt_project/tests/dq. Their tiers are tested
here on real data, and every reader (alerts, health check, validate_data, report) is shown to follow dbt's
verdict rather than a threshold of its own. A failed build names what failed."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from rapidtrader import dbt_results, dq
from rapidtrader.db import connect
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import dbt_build, eod_report
from tests.ops import synthetic
from tests.ops.conftest import REPO, child_env, python, sql_rows

pytestmark = pytest.mark.e2e

# Equities without a bar on the session, among 200: 1% and 5% are the default warn and error tiers, both
# exclusive; one symbol more than 5% is an error.
BOUNDARIES = [(2, "OK"), (10, "WARN"), (11, "FAIL")]


def _universe(url, missing: int) -> None:
    sql_rows(
        url,
        """
        create table marts.symbols as
        select 'S' || lpad(i::text, 3, '0') as symbol, 'equity' as asset_class, true as is_active,
               true as is_tradable, 'Tech' as sector
        from generate_series(1, 200) as i
        """,
    )
    sql_rows(
        url,
        "create table marts.bars_daily as select symbol, '2024-01-05'::date as d, 10.0 as adj_close "
        "from marts.symbols where symbol > 'S' || lpad(%s::text, 3, '0')",
        (missing,),
    )


@pytest.mark.parametrize(("missing", "level"), BOUNDARIES)
def test_coverage_tiers_are_dbts_and_exclusive_at_the_boundaries(ops_db, missing, level):
    url = ops_db(f"tiers{missing}")
    _universe(url, missing)
    with contextlib.suppress(dbt_build.DbtFailed):  # the error tier fails the step, as in a nightly
        dbt_build.run(url, f"tiers-{missing}", ["--select", "dq_symbol_coverage"])
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            result = dq.find(dq.latest(cur), dq.COVERAGE)
    finally:
        conn.close()
    assert result.level == level
    assert len(result.rows) == missing and result.measure == pytest.approx(missing / 2)
    assert {r["session_d"] for r in result.rows} == {dt.date(2024, 1, 5)}


@pytest.fixture(scope="module")
def one_definition(ops_db, tmp_path_factory):
    """The synthetic marts (EEE, one of five equities, has no bar on the session: 20% missing) checked with the
    error tier moved to 50%: dbt now calls it a warning, and so must everything that reads it."""
    url = ops_db("onedef")
    session = synthetic.build(url)
    run_dbt(["seed", "--select", "trading_calendar"], url, capture=True, check=True)
    env = {"RT_DQ_COVERAGE_ERROR_PCT": "50"}
    mp = pytest.MonkeyPatch()
    mp.setenv("RT_DQ_COVERAGE_ERROR_PCT", "50")
    mp.setenv("RT_REPORT_DIR", str(tmp_path_factory.mktemp("onedef_reports")))
    try:
        dbt_build.run(url, "onedef", ["--select", "dq_symbol_coverage"])  # warn: the step succeeds
        assert eod_report.run(url, "onedef-report", report_run_id="onedef") == 0
        report = (eod_report.report_dir() / f"eod_report_{session}.md").read_text()
    finally:
        mp.undo()
    return url, session, env, report


def test_alerts_follow_dbts_verdict(one_definition):
    url, *_ = one_definition
    assert sql_rows(url, "select tier, code from alerts where run_id = 'onedef' and code = 'completeness'") == [
        ("warning", "completeness")
    ]


def test_health_check_follows_dbts_verdict(one_definition):
    url, _, env, _ = one_definition
    out = subprocess.run(
        [python(), "scripts/health_check.py", "--json"],
        cwd=REPO,
        env=child_env(url, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["data:completeness"]["status"] == "WARN" and "EEE" in checks["data:completeness"]["detail"]


def test_report_follows_dbts_verdict(one_definition):
    *_, report = one_definition
    assert "missing 1: EEE (dq_symbol_coverage: warn)" in report


def test_validate_data_runs_the_same_tests_for_any_session(one_definition):
    url, session, env, _ = one_definition
    nightly = sql_rows(url, "select symbol, session_d from dq.dq_symbol_coverage")
    out = subprocess.run(
        [python(), "scripts/validate_data.py", "--date", session.isoformat()],
        cwd=REPO,
        env=child_env(url, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr  # coverage warns (20% < 50%); nothing fails
    assert [line.split()[0] for line in out.stdout.splitlines() if " coverage " in f" {line} "] == ["WARN"]
    earlier = session - dt.timedelta(days=7)  # a weekday on which every symbol has its bar
    out = subprocess.run(
        [python(), "scripts/validate_data.py", "--date", earlier.isoformat()],
        cwd=REPO,
        env=child_env(url, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert f"data quality of session {earlier}" in out.stdout and "OK    coverage" in out.stdout, out.stdout
    # The ad-hoc sessions wrote schema dq_validate; the nightly's rows in dq are as they were.
    assert sql_rows(url, "select symbol, session_d from dq.dq_symbol_coverage") == nightly == [("EEE", session)]
    assert sql_rows(url, "select count(*) from dq_validate.dq_symbol_coverage") == [(0,)]


def test_a_failed_build_names_the_failed_tests(warehouse):
    """Five symbols of a 505-member universe: dbt fails the coverage test; the step and its alert say which."""
    with pytest.raises(dbt_build.DbtFailed, match="dq_symbol_coverage"):
        dbt_build.run(warehouse, "named-1", ["--select", "tag:dq"])
    (error,) = sql_rows(warehouse, "select error from job_log where run_id = 'named-1'")[0]
    assert "test dq_symbol_coverage (fail" in error
    (message,) = sql_rows(warehouse, "select message from alerts where run_id = 'named-1' and code = 'job_failed'")[0]
    assert "dq_symbol_coverage" in message
    recorded = {
        r[0]: r[1] for r in sql_rows(warehouse, "select name, status from dbt_results where run_id = 'named-1'")
    }
    assert recorded["dq_symbol_coverage"] == "fail"


def test_a_model_error_is_named_with_dbts_message(tmp_path):
    results = {
        "metadata": {"generated_at": "2030-01-02T03:04:05.000000Z", "invocation_id": "inv"},
        "results": [
            {"unique_id": "model.rapidtrader.ledger", "status": "error", "message": 'relation "x" does not exist'},
            {"unique_id": "model.rapidtrader.bars_daily", "status": "success"},
            {"unique_id": "test.rapidtrader.risk_buys_within_cash", "status": "fail", "failures": 3},
        ],
    }
    (tmp_path / "run_results.json").write_text(json.dumps(results))
    manifest = {
        "nodes": {
            "test.rapidtrader.risk_buys_within_cash": {
                "name": "risk_buys_within_cash",
                "original_file_path": "dbt_project/tests/risk/x.sql",
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    nodes = dbt_results.read_run_results(tmp_path)
    assert [n.kind for n in nodes] == ["model", "model", "risk"]
    assert dbt_results.describe_failures(nodes) == (
        '2 failed: model ledger (error: relation "x" does not exist); test risk_buys_within_cash (fail, 3)'
    )
    later = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    assert dbt_results.read_run_results(tmp_path, since=later) is None  # an older command's file is not used


@pytest.mark.parametrize(("rows", "status"), [(0, "fail"), (1, "pass"), (3, "pass")])
def test_row_count_test_fails_on_an_empty_mart_only(ops_db, rows, status):
    """expect_row_count_at_least reads at most min_rows rows (a limit, not a count of the whole mart): an
    empty symbols mart still fails it (min_rows 1), one row or more passes."""
    url = ops_db(f"rowcount{rows}")
    sql_rows(url, "create table marts.symbols as select 'S' || i as symbol from generate_series(1, %s) as i", (rows,))
    run_dbt(["test", "--select", "symbols,test_name:expect_row_count_at_least"], url, capture=True)
    results = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    tests = [(r["unique_id"].split(".")[2], r["status"]) for r in results if r["unique_id"].startswith("test.")]
    assert tests == [("expect_row_count_at_least_symbols_1", status)]


def _orders_eod_tests(url, full_history: bool) -> dict[str, str]:
    args = ["test", "--select", "orders_eod", "--exclude", "resource_type:unit_test"]
    run_dbt([*args, "--vars", f"{{rt_test_full_history: {int(full_history)}}}"], url, capture=True)
    results = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results if r["unique_id"].startswith("test.")}


@pytest.mark.parametrize(
    ("rows", "nightly", "full_history"),
    [
        ([("2024-01-02", "AAA", "buy"), ("2024-01-03", "AAA", "sell")], "pass", "pass"),
        ([("2024-01-02", "AAA", "buy"), ("2024-01-03", "BBB", "buy"), ("2024-01-03", "BBB", "buy")], "fail", "fail"),
        ([("2024-01-02", "AAA", "buy"), ("2024-01-02", "AAA", "buy"), ("2024-01-03", "BBB", "buy")], "pass", "fail"),
        ([("2024-01-02", "AAA", "buy"), ("2024-01-03", "BBB", "hold")], "fail", "fail"),
    ],
)
def test_orders_eod_tests_check_the_newest_day_and_every_day_in_full(ops_db, rows, nightly, full_history):
    """orders_eod's key, side and quantity tests read its newest day (a night's publication; the table's unique
    index guards every key); `make test-dq-full` (RT_TEST_FULL_HISTORY=1) reads every day. The table here has
    no index, so an older duplicate can exist: only the full-history run sees it."""
    url = ops_db(f"orderseod{uuid.uuid4().hex[:6]}")
    sql_rows(url, "create table marts.orders_eod (d date, symbol text, side text, qty bigint)")
    for d, symbol, side in rows:
        sql_rows(url, "insert into marts.orders_eod values (%s, %s, %s, 10)", (d, symbol, side))
    for everything, expected in ((False, nightly), (True, full_history)):
        statuses = _orders_eod_tests(url, everything)
        assert len(statuses) == 2 and "orders_eod_latest_day_valid" in statuses, statuses
        failed = "fail" in statuses.values()
        assert ("fail" if failed else "pass") == expected, statuses
