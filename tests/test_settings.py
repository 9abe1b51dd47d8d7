"""One definition of every setting: rapidtrader/settings.py names every RT_* variable the project reads,
validates values before anything runs, hands dbt its vars, and generates the README's table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rapidtrader import PROJECT_ROOT
from rapidtrader.dbt_runner import run_dbt, with_vars
from rapidtrader.settings import (
    BY_NAME,
    DERIVED,
    SETTINGS,
    Settings,
    SettingsError,
    dbt_vars,
    readme_with_table,
)

CODE = re.compile(r"\.(py|sql|yml|yaml|toml|cfg)$|(^|/)(Makefile|run)$")


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return [PROJECT_ROOT / f for f in out.stdout.split() if CODE.search(f) and (PROJECT_ROOT / f).exists()]


def test_every_rt_variable_the_code_names_is_a_setting():
    unknown: dict[str, list[str]] = {}
    for path in tracked_files():
        for name in set(re.findall(r"\bRT_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace"))):
            if name not in BY_NAME and name not in DERIVED:
                unknown.setdefault(name, []).append(str(path.relative_to(PROJECT_ROOT)))
    assert unknown == {}


def test_every_var_dbt_reads_comes_from_the_settings_and_back():
    used: set[str] = set()
    for path in (PROJECT_ROOT / "dbt_project").rglob("*"):
        if path.suffix in (".sql", ".yml"):
            used |= set(re.findall(r"""var\(\s*['"](rt_[a-z0-9_]+)['"]""", path.read_text()))
    given = set(dbt_vars())
    if "rt_ledger_run" in used:  # the ledger's settings reach dbt inside that one var
        from rapidtrader.ledger_runs import KNOBS

        used |= {var for var, _ in KNOBS.values()}
    assert used - given == set(), "vars the project reads that the settings do not pass"
    assert {s.var for s in SETTINGS if s.dbt} - used == set(), "settings marked dbt that no model reads"


def test_the_readme_table_is_the_generated_one():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert readme_with_table(readme) == readme, "run: python -m rapidtrader.settings --write-readme"


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("RT_PCT_PER_TRADE", "-1", "a number in (0, 1]"),
        ("RT_PCT_PER_TRADE", "0", "a number in (0, 1]"),
        ("RT_MAX_EXPOSURE_PER_SECTOR", "abc", "a number in (0, 1]"),
        ("RT_MAX_EXPOSURE_PER_SECTOR", "1.5", "a number in (0, 1]"),
        ("RT_DAILY_RISK_CAP", "nan", "a number in (0, 1]"),
        ("RT_ATR_STOP_K", "-3", "a number in (0, 100]"),
        ("RT_MIN_COVERAGE", "abc", "a number in [0, 1]"),
        ("RT_COOLDOWN_DAYS_ON_STOP", "1.5", "a whole number in [0, 1000]"),
        ("RT_ENABLE_ATR_STOP", "yes", "0 or 1"),
        ("RT_SMA_FAST", "30", "one of 20, 50, 100, 200"),
        ("RT_MARKET_FILTER_SYMBOL", "SPY' or 1=1 or symbol='", "a ticker"),
        ("RT_BENCHMARK_SYMBOL", "SPY;drop table x", "a ticker"),
        ("RT_LEDGER_START", "2017-13-45", "a date YYYY-MM-DD"),
        ("RT_LEDGER_START", "2017-01-01' or 'x", "a date YYYY-MM-DD"),
        ("RT_PRIMARY_SOURCE", "fmp' or 1=1 --", "one of sample, fmp, yfinance"),
        ("RT_DATA_SOURCE", "ftp", "one of sample, fmp, yfinance"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_what_it_allows(name, value, allowed):
    with pytest.raises(SettingsError) as err:
        Settings(environ={name: value})
    assert name in str(err.value) and allowed in str(err.value)


def test_values_are_typed_and_defaults_apply():
    s = Settings(environ={"RT_PCT_PER_TRADE": "0.1", "RT_ENABLE_ATR_STOP": "0", "RT_LEDGER_START": " "})
    assert s.pct_per_trade == 0.1 and s.enable_atr_stop is False and s.ledger_start is None
    assert s.max_exposure_per_sector == 0.30 and s.sma_fast == 20
    assert Settings(environ={}).data_source == "yfinance"
    assert Settings(environ={"RT_FMP_API_KEY": "k"}).data_source == "fmp"


def test_settings_that_contradict_each_other_are_refused():
    with pytest.raises(SettingsError, match="RT_CONFIRM_MIN_COUNT=4 is more than RT_CONFIRM_WINDOW=3"):
        Settings(environ={"RT_CONFIRM_MIN_COUNT": "4"})
    with pytest.raises(SettingsError, match="RT_SMA_FAST=100 must be below RT_SMA_SLOW=100"):
        Settings(environ={"RT_SMA_FAST": "100"})


def test_dbt_gets_every_setting_and_a_callers_vars_win():
    args = with_vars(["build", "--select", "x", "--vars", '{"rt_start_capital": "5000"}'])
    assert args[:3] == ["build", "--select", "x"] and args.count("--vars") == 1
    given = json.loads(args[-1])
    assert given["rt_start_capital"] == "5000"
    assert given["rt_pct_per_trade"] == 0.05 and given["rt_enable_atr_stop"] == 1
    assert with_vars(["clean"]) == ["clean"]


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "rapidtrader.settings"],
        [sys.executable, "-m", "rapidtrader.jobs.backtest", "--start", "2014-01-02"],
        [sys.executable, "-m", "rapidtrader.dbt_runner", "parse"],
    ],
)
def test_a_command_with_a_bad_setting_says_so_in_one_line(argv):
    env = dict(os.environ, RT_MAX_EXPOSURE_PER_SECTOR="abc")
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "RT_MAX_EXPOSURE_PER_SECTOR" in result.stderr and "(0, 1]" in result.stderr


def test_a_setting_reaches_sql_as_a_literal_even_when_validation_is_bypassed(scratch_db, tmp_path):
    """--vars skips the environment check; the models still quote the value, so the injection is a
    harmless odd ticker."""
    url = scratch_db("literal")
    os.environ["DBT_TARGET_PATH"], before = str(tmp_path), os.environ.get("DBT_TARGET_PATH")
    try:
        evil = "SPY' or 1=1 or symbol='"
        result = run_dbt(
            ["compile", "--select", "market_state", "--vars", json.dumps({"rt_market_filter_symbol": evil})],
            url,
            capture=True,
        )
    finally:
        os.environ["DBT_TARGET_PATH"] = before or ""
        if before is None:
            os.environ.pop("DBT_TARGET_PATH")
    assert result.returncode == 0, result.stdout[-3000:]
    compiled = next(tmp_path.rglob("compiled/**/market_state.sql")).read_text()
    assert "where symbol = 'SPY'' or 1=1 or symbol='''" in compiled
    assert "symbol = 'SPY' or" not in compiled


def test_dbt_sessions_run_with_the_work_mem_setting(pg_server, monkeypatch):
    """dbt's sessions get RT_WORK_MEM_MB as work_mem on any server, not the server's default (4 MB on a
    stock PostgreSQL, where a full rebuild's sorts spilled to disk)."""
    monkeypatch.setenv("RT_WORK_MEM_MB", "12")
    show = ["show", "--inline", "select current_setting('work_mem') as work_mem", "--output", "json"]
    result = run_dbt(show, pg_server, capture=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '"work_mem": "12MB"' in result.stdout, result.stdout[-2000:]
