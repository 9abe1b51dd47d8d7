"""A changed rule setting recomputes the stored decisions, and the backtest refuses decisions of other settings.

signals_decided and market_state are incremental: a night computes only the new days. Each records the
settings it was built with in its table comment and, when they changed, recomputes its whole history at the
next build (macros/analytics/rule_settings.sql). On a small slice of the sample (eight stocks and SPY, the
whole five years) the analytics models are built with the default settings; then RT_RSI_BUY, and after it
RT_MARKET_FILTER_ENABLE, is changed and the models are built incrementally with no new bars (the case a
night would otherwise leave as it was), snapshotted, rebuilt with --full-refresh under the same settings and
compared row for row. The backtest job is then run with settings other than the recorded ones.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pandas as pd
import pytest

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl
from rapidtrader.jobs import backtest
from rapidtrader.rule_settings import RULE_TABLES, parse_record
from tests.foundation.helpers import load_files
from tests.indicators.conftest import dbt, query

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE = PROJECT_ROOT / "data" / "sample"
STOCKS = ["AAPL", "MSFT", "XOM", "KO", "JPM", "PFE", "CAT", "DIS"]
MODELS = ["signals_decided", "signals_daily", "market_state"]
TABLES = ["signals_decided", "market_state"]
CHANGED = ["RT_RSI_BUY", "RT_MARKET_FILTER_ENABLE"]
# the steps of the scenario, each a snapshot schema: as built, after an incremental build with the changed
# setting, after a full refresh with it
STEPS = {"RT_RSI_BUY": ("25", "rsi"), "RT_MARKET_FILTER_ENABLE": ("0", "gate")}


def _write_slice(folder) -> None:
    with gzip.open(SAMPLE / "sp500_ohlcv_2013-02-08_2018-02-07.csv.gz", "rt") as fh:
        stocks = pd.read_csv(fh, dtype=str)
    stocks[stocks["symbol"].isin(STOCKS)].to_csv(folder / "stocks.csv", index=False)
    (folder / "spy.csv").write_text((SAMPLE / "spy_daily_2012-02-08_2018-02-07.csv").read_text())
    constituents = pd.read_csv(SAMPLE / "sp500_constituents_2018-04-02.csv", dtype=str)
    constituents[constituents["symbol"].isin(STOCKS)].to_csv(folder / "sp500_constituents_2018-04-02.csv", index=False)


def _snapshot(url: DbUrl, schema: str) -> None:
    query(url, f"create schema {schema}")
    for table in TABLES:
        query(url, f"create table {schema}.{table} as select * from marts.{table}")  # noqa: S608


def _differences(url: DbUrl, left: str, right: str) -> list[tuple]:
    """Rows of `left` not in `right` and the other way round (every column but computed_at), at most 5 each."""
    schema, table = left.split(".")
    rows = query(
        url,
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "and column_name != 'computed_at' order by ordinal_position",
        (schema, table),
    )
    cols = ", ".join(f'"{r[0]}"' for r in rows)
    only_left = query(url, f"select {cols} from {left} except all select {cols} from {right} limit 5")  # noqa: S608
    only_right = query(url, f"select {cols} from {right} except all select {cols} from {left} limit 5")  # noqa: S608
    return [("only in " + left, *r) for r in only_left] + [("only in " + right, *r) for r in only_right]


def _recorded(url: DbUrl, table: str) -> dict | None:
    (comment,) = query(url, "select obj_description(%s::regclass, 'pg_class')", (f"marts.{table}",))[0]
    return parse_record(comment)


def _batches(url: DbUrl, table: str) -> list:
    return [r[0] for r in query(url, f"select distinct computed_at from marts.{table} order by 1")]  # noqa: S608


@pytest.fixture(scope="module")
def scenario(scratch_db, tmp_path_factory) -> Iterator[dict]:
    """The slice built with the defaults, then one incremental build and one full refresh per changed
    setting (cumulative: the second change keeps the first), each snapshotted. Yields the URL and what the
    builds recorded along the way."""
    url = scratch_db("rules")
    folder = tmp_path_factory.mktemp("rules_files")
    _write_slice(folder)
    seen: dict = {"url": url}
    with pytest.MonkeyPatch.context() as mp:
        for name in CHANGED:
            mp.delenv(name, raising=False)
        load_files(url, folder)
        dbt(url, "build", "--select", "+market_state", "--exclude", "resource_type:test")  # seeds and models
        _snapshot(url, "built")
        seen["recorded_defaults"] = {t: _recorded(url, t) for t in TABLES}
        seen["batches_built"] = {t: _batches(url, t) for t in TABLES}

        dbt(url, "run", "--select", *MODELS)  # nothing new, settings unchanged
        seen["batches_unchanged"] = {t: _batches(url, t) for t in TABLES}
        _snapshot(url, "unchanged")

        for name, (value, step) in STEPS.items():
            mp.setenv(name, value)
            before = {t: _batches(url, t) for t in TABLES}
            seen[f"log_{step}"] = dbt(url, "run", "--select", *MODELS)
            seen[f"batches_{step}"] = {t: (before[t], _batches(url, t)) for t in TABLES}
            seen[f"recorded_{step}"] = {t: _recorded(url, t) for t in TABLES}
            # the last day market_state did not rewrite, and the first day with signals
            seen[f"kept_{step}"] = query(
                url,
                "select (select max(d) from marts.market_state where computed_at < "
                "(select max(computed_at) from marts.market_state)), (select min(d) from marts.signals_decided)",
            )[0]
            _snapshot(url, f"{step}_incremental")
            dbt(url, "run", "--full-refresh", "--select", *MODELS)
            _snapshot(url, f"{step}_full")
    yield seen  # the settings as they were before


def test_each_table_records_the_settings_it_was_built_with(scenario):
    from rapidtrader.settings import dbt_vars

    defaults = dbt_vars()
    for table in TABLES:
        recorded = scenario["recorded_defaults"][table]
        assert recorded is not None, f"{table}: no settings in its comment"
        assert sorted(recorded) == sorted(RULE_TABLES[f"marts.{table}"])  # the Python list names the same
        numbers = {k: v for k, v in recorded.items() if k != "rt_market_filter_symbol"}
        assert numbers == {k: float(defaults[k]) for k in numbers}
    assert scenario["recorded_defaults"]["market_state"]["rt_market_filter_symbol"] == "SPY"
    assert scenario["recorded_rsi"]["signals_decided"]["rt_rsi_buy"] == 25
    assert scenario["recorded_gate"]["market_state"]["rt_market_filter_enable"] == 0
    (comment,) = query(scenario["url"], "select obj_description('marts.signals_decided'::regclass, 'pg_class')")[0]
    assert comment.startswith("The strategy decisions per equity")  # the description is kept above the record
    assert comment.count("rule settings:") == 1


def test_a_build_with_nothing_new_and_the_same_settings_changes_no_row(scenario):
    assert scenario["batches_unchanged"] == scenario["batches_built"]
    for table in TABLES:
        assert _differences(scenario["url"], f"built.{table}", f"unchanged.{table}") == []


@pytest.mark.parametrize("setting", CHANGED)
@pytest.mark.parametrize("table", TABLES)
def test_a_changed_setting_recomputes_every_row_as_a_full_refresh(scenario, setting, table):
    url, step = scenario["url"], STEPS[setting][1]
    before = "built" if step == "rsi" else "rsi_full"
    if (setting, table) != ("RT_MARKET_FILTER_ENABLE", "signals_decided"):
        # the setting matters on this slice: otherwise the comparison below could not fail
        assert _differences(url, f"{before}.{table}", f"{step}_full.{table}") != []
    assert _differences(url, f"{step}_incremental.{table}", f"{step}_full.{table}") == []


def test_only_the_tables_whose_rules_changed_are_recomputed(scenario):
    old_batches, new_batches = scenario["batches_rsi"]["signals_decided"]
    assert len(new_batches) == 1 and new_batches[0] not in old_batches  # every row rewritten in one batch
    # market_state's filter settings did not change, but every day with signals was recomputed (its buy
    # candidates); the days before the first equity bar (SPY's warm-up year) have none and were kept
    old_batches, new_batches = scenario["batches_rsi"]["market_state"]
    assert new_batches[-1] not in old_batches
    last_kept, first_signal = scenario["kept_rsi"]
    assert last_kept < first_signal
    assert "signals_decided: rule settings changed (rt_rsi_buy 30.0 -> 25.0)" in scenario["log_rsi"]
    # a change of the market filter leaves the signals as they were
    old_batches, new_batches = scenario["batches_gate"]["signals_decided"]
    assert new_batches == old_batches
    old_batches, new_batches = scenario["batches_gate"]["market_state"]
    assert len(new_batches) == 1 and new_batches[0] not in old_batches  # every day, SPY's warm-up year too
    assert scenario["kept_gate"][0] is None
    assert "market_state: rule settings changed (rt_market_filter_enable 1 -> 0)" in scenario["log_gate"]


def test_backtest_refuses_signals_built_with_other_settings(scenario, monkeypatch, capsys):
    """The tables record RT_RSI_BUY=25 and RT_MARKET_FILTER_ENABLE=0; the defaults are 30 and 1."""
    url = scenario["url"]
    monkeypatch.setenv("RT_DB_URL", url.url)
    for name in CHANGED:
        monkeypatch.delenv(name, raising=False)
    code = backtest.main(["--start", "2016-01-04", "--end", "2016-03-31"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert "\n" not in err, err
    assert err.startswith("error: backtest failed: the stored signals and market state were built with other")
    assert "RT_RSI_BUY stored 25 current 30 (signals_decided)" in err
    assert "RT_MARKET_FILTER_ENABLE stored 0 current 1 (market_state)" in err
    assert "RT_SMA_FAST" not in err and "RT_FLOAT_TOLERANCE" not in err  # only what differs
    assert "--with-inputs" in err and "make sweep" in err
    assert query(url, "select to_regclass('marts.backtest_ledger')") == [(None,)]  # it stopped before dbt

    # a table built before settings were recorded counts as built with other settings
    query(url, "comment on table marts.market_state is 'built by an older version'")
    monkeypatch.setenv("RT_RSI_BUY", "25")
    with pytest.raises(backtest.BacktestFailed) as failed:
        backtest.check_inputs(url)
    assert "RT_RSI_BUY" not in str(failed.value)
    assert "RT_MARKET_FILTER_ENABLE stored none recorded current 1 (market_state)" in str(failed.value)
    assert "RT_FLOAT_TOLERANCE stored none recorded current 1e-09 (market_state)" in str(failed.value)

    # the settings the tables were built with pass
    monkeypatch.setenv("RT_MARKET_FILTER_ENABLE", "0")
    query(url, "comment on table marts.market_state is null")
    dbt(url, "run", "--select", "market_state")  # records them again (recomputing: none were recorded)
    backtest.check_inputs(url)


def test_backtest_without_built_inputs_says_how_to_build_them(scratch_db):
    with pytest.raises(backtest.BacktestFailed, match=r"marts.signals_decided, marts.market_state not built yet: run"):
        backtest.check_inputs(scratch_db("rules_empty"))
