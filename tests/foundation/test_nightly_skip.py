"""A night that finds nothing changed since the last nightly build skips the build and changes nothing; any
change to what the build reads (raw data, a setting, the warehouse, a command that writes it) builds.

Five stocks of the bundled sample with SPY and the sector ETFs are loaded through the file source and the
nightly job (rapidtrader.jobs.eod.run) builds them once; each test then runs the job again after one kind
of change and reads the job_log to see whether dbt built.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from rapidtrader import PROJECT_ROOT, build_inputs
from rapidtrader.db import DbUrl
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import eod
from tests.conftest import execute, query
from tests.marts_digest import rewritten, stored_tuples

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE = PROJECT_ROOT / "data" / "sample"
STOCKS = ["AAPL", "MSFT", "XOM", "KO", "JPM"]


def _market() -> pd.DataFrame:
    with gzip.open(SAMPLE / "sector_etfs_daily_2012-02-08_2018-02-07.csv.gz", "rt") as fh:
        etfs = pd.read_csv(fh, dtype=str)
    return pd.concat([etfs, pd.read_csv(SAMPLE / "spy_daily_2012-02-08_2018-02-07.csv", dtype=str)])


def _stocks() -> pd.DataFrame:
    with gzip.open(SAMPLE / "sp500_ohlcv_2013-02-08_2018-02-07.csv.gz", "rt") as fh:
        stocks = pd.read_csv(fh, dtype=str)
    return stocks[stocks["symbol"].isin(STOCKS)]


class Warehouse:
    def __init__(self, url: DbUrl, folder: Path, held_back: tuple[pd.DataFrame, pd.DataFrame]):
        self.url = url
        self.folder = folder
        self.held_back = held_back
        self.nights = 0
        self.last_built: str | None = None

    def night(self, **options) -> dict:
        """Run the nightly job; its dbt_build step's details (with 'skipped' when it did not build)."""
        self.nights += 1
        run_id = f"skip{self.nights}"
        assert eod.run(self.url, source="sample", run_id=run_id, skip_report=True, **options) in (0, 1)
        [(details,)] = query(
            self.url, "select details from ops.job_log where run_id = %s and job_name = 'dbt_build'", (run_id,)
        )
        details["run_id"] = run_id
        details["dbt_nodes"] = query(self.url, "select count(*) from ops.dbt_results where run_id = %s", (run_id,))[0][
            0
        ]
        details["freshness"] = query(
            self.url, "select status from ops.job_log where run_id = %s and job_name = 'source_freshness'", (run_id,)
        )
        if "skipped" not in details:
            self.last_built = run_id
        return details


@pytest.fixture(scope="module")
def warehouse(scratch_db, tmp_path_factory):
    url = scratch_db("skip")
    folder = tmp_path_factory.mktemp("skip_files")
    stocks, market = _stocks(), _market()
    last = sorted(stocks["date"].unique())[-1]
    constituents = pd.read_csv(SAMPLE / "sp500_constituents_2018-04-02.csv", dtype=str)
    constituents[constituents["symbol"].isin(STOCKS)].to_csv(folder / "sp500_constituents_2018-04-02.csv", index=False)
    stocks[stocks["date"] < last].to_csv(folder / "stocks_base.csv", index=False)
    market[market["date"] < last].to_csv(folder / "market_base.csv", index=False)
    dq_off = {f"RT_DQ_{rule}_ERROR_PCT": "100" for rule in ("COVERAGE", "MISSING", "PRICE", "VOLUME")}
    env = dict(RT_DB_URL=url.url, RT_SAMPLE_DIR=str(folder), RT_PROGRESS="0", **dq_off)
    env_before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        w = Warehouse(url, folder, (stocks[stocks["date"] == last], market[market["date"] == last]))
        first = w.night()
        assert "skipped" not in first and first["dbt_nodes"] > 100
        yield w
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_a_night_with_nothing_new_skips_the_build_and_changes_nothing(warehouse):
    warehouse.night()  # whatever the tests before left, the warehouse is now built from it
    before = stored_tuples(warehouse.url)
    night = warehouse.night()
    assert night.get("skipped") and night["built_by_run"] == warehouse.last_built, night
    assert night["dbt_nodes"] == 0
    assert night["freshness"] == [("success",)]  # the data's age is still checked
    assert rewritten(before, warehouse.url) == []


def test_always_build_builds_when_nothing_changed(warehouse):
    warehouse.night()
    night = warehouse.night(always_build=True)
    assert "skipped" not in night and night["dbt_nodes"] > 100


def test_a_changed_setting_builds(warehouse, monkeypatch):
    warehouse.night()
    monkeypatch.setenv("RT_RSI_BUY", "31")
    assert "skipped" not in warehouse.night()
    assert warehouse.night().get("skipped")  # and the setting is now what the build read
    monkeypatch.delenv("RT_RSI_BUY")
    assert "skipped" not in warehouse.night()


def test_a_dropped_relation_builds_it_again(warehouse):
    warehouse.night()
    execute(warehouse.url, "drop table marts.symbols cascade")
    assert "skipped" not in warehouse.night()
    assert query(warehouse.url, "select count(*) from marts.symbols")[0][0] > 0


def test_a_dbt_command_that_writes_forgets_the_last_build(warehouse):
    warehouse.night()
    run_dbt(["run", "--select", "symbols"], warehouse.url, capture=True, check=True)
    assert query(warehouse.url, f"select count(*) from {build_inputs.RECORD}") == [(0,)]
    assert "skipped" not in warehouse.night()


def test_a_read_only_dbt_command_keeps_the_record(warehouse):
    warehouse.night()
    run_dbt(["compile", "--select", "symbols"], warehouse.url, capture=True, check=True)
    run_dbt(["test", "--select", "symbols"], warehouse.url, capture=True, check=True)
    assert query(warehouse.url, f"select count(*) from {build_inputs.RECORD}") == [(1,)]


def test_a_raw_row_changed_by_hand_builds(warehouse):
    warehouse.night()
    execute(
        warehouse.url,
        "update raw_sample.bars set loaded_at = now() where symbol = 'KO' and d = (select max(d) from raw_sample.bars)",
    )
    assert "skipped" not in warehouse.night()


def test_a_new_session_builds(warehouse):
    warehouse.night()
    stocks, market = warehouse.held_back
    stocks.to_csv(warehouse.folder / "stocks_new.csv", index=False)
    market.to_csv(warehouse.folder / "market_new.csv", index=False)
    night = warehouse.night()
    assert "skipped" not in night
    newest = stocks["date"].max()
    assert query(warehouse.url, "select max(d)::text from marts.bars_daily") == [(newest,)]
    assert warehouse.night().get("skipped")


def test_the_code_fingerprint_reads_every_project_file_and_the_env_vars_it_names(tmp_path, monkeypatch):
    model = tmp_path / "model.sql"
    model.write_text("select 1 as x")
    monkeypatch.setattr(build_inputs, "project_files", lambda: [model])
    monkeypatch.setattr(build_inputs, "PROJECT_ROOT", tmp_path)
    first = build_inputs.code_and_settings([])
    model.write_text("select 2 as x")
    assert build_inputs.code_and_settings([]) != first
    model.write_text("select {{ env_var('FINGERPRINT_PROBE_VAR', '') }} as x")
    monkeypatch.setenv("FINGERPRINT_PROBE_VAR", "a")
    named = build_inputs.code_and_settings([])
    monkeypatch.setenv("FINGERPRINT_PROBE_VAR", "b")
    assert build_inputs.code_and_settings([]) != named
    assert build_inputs.code_and_settings(["--full-refresh"]) != build_inputs.code_and_settings([])


def test_the_project_files_are_the_ones_dbt_reads():
    files = {p.relative_to(PROJECT_ROOT).as_posix() for p in build_inputs.project_files()}
    assert "dbt_project.yml" in files
    assert "dbt_project/macros/forget_nightly_build_inputs.sql" in files
    assert any(f.startswith("dbt_project/seeds/") for f in files)
    assert not any("/target/" in f or "__pycache__" in f for f in files)
