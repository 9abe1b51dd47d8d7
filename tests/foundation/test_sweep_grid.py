"""A sweep's grid is checked before anything runs: each row's settings as the settings themselves are
checked, with the row and the setting named; --param makes the Cartesian product."""

from __future__ import annotations

import pytest

from rapidtrader.jobs import sweep
from rapidtrader.jobs.sweep import SweepError, check_grid, product_grid, read_grid

ENV = {"RT_DB_URL": "postgresql://nobody@127.0.0.1:1/none"}


def test_params_make_the_cartesian_product_first_varying_slowest():
    grid = product_grid(["RT_RSI_BUY=25,30", "rt_atr_stop_k=2,3,4"])
    assert grid.names == ("RT_RSI_BUY", "RT_ATR_STOP_K")
    assert grid.rows == (("25", "2"), ("25", "3"), ("25", "4"), ("30", "2"), ("30", "3"), ("30", "4"))
    runs = check_grid(grid, ENV)
    assert [(r["rt_rsi_buy"], r["rt_atr_stop_k"]) for r in runs] == [
        (25.0, 2.0), (25.0, 3.0), (25.0, 4.0), (30.0, 2.0), (30.0, 3.0), (30.0, 4.0)
    ]  # fmt: skip
    # a setting outside the grid keeps its current value (the environment's, else the default)
    assert {r["rt_rsi_sell"] for r in runs} == {55.0}
    assert {r["rt_pct_per_trade"] for r in check_grid(grid, {**ENV, "RT_PCT_PER_TRADE": "0.02"})} == {0.02}


def test_a_grid_file_keeps_current_values_in_empty_cells(tmp_path):
    path = tmp_path / "grid.csv"
    path.write_text("RT_RSI_BUY,RT_SMA_FAST\n,\n25,50\n\n35,\n")
    grid = read_grid(path)
    assert grid.rows == (("", ""), ("25", "50"), ("35", ""))
    assert grid.row_labels == ("grid.csv line 2", "grid.csv line 3", "grid.csv line 5")
    runs = check_grid(grid, ENV)
    assert [(r["rt_rsi_buy"], r["rt_sma_fast"]) for r in runs] == [(30.0, 20), (25.0, 50), (35.0, 20)]
    # the ledger's run object follows the same settings
    assert runs[1]["rt_ledger_run"] == runs[0]["rt_ledger_run"]


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("RT_RSI_BUY\n25\n120\n", "grid.csv line 3: RT_RSI_BUY='120': out of range; allowed: a number in (0, 100]"),
        ("RT_SMA_FAST\n30\n", "grid.csv line 2: RT_SMA_FAST='30': not allowed; allowed: one of 20, 50, 100, 200"),
        ("RT_SMA_FAST,RT_SMA_SLOW\n50,100\n100,50\n", "grid.csv line 3: RT_SMA_FAST=100 must be below RT_SMA_SLOW=50"),
        ("RT_ENABLE_ATR_STOP\nyes\n", "grid.csv line 2: RT_ENABLE_ATR_STOP='yes': not 0 or 1"),
        ("RT_UNIVERSE_MODE\nall\n", "grid.csv line 2: RT_UNIVERSE_MODE='all': not allowed"),
        # a misspelt name (written in lower case here: the settings test takes RT_ names in code for settings)
        ("rt_rsi_byu\n25\n", "the grid names " + "rt_rsi_byu".upper() + ": no such setting"),
        ("RT_DB_URL\npostgresql://x\n", "RT_DB_URL cannot be swept"),
        ("RT_RSI_BUY,RT_ATR_STOP_K\n25\n", "grid.csv line 2: 1 values for 2 settings"),
    ],
)
def test_a_bad_row_is_named_with_its_setting(tmp_path, csv, message):
    path = tmp_path / "grid.csv"
    path.write_text(csv)
    with pytest.raises(SweepError) as caught:
        check_grid(read_grid(path), ENV)
    assert message in str(caught.value)


def test_the_command_fails_on_a_bad_row_before_it_opens_a_database(capsys, monkeypatch):
    monkeypatch.setenv("RT_DB_URL", "postgresql://nobody@127.0.0.1:1/none")  # nothing listens there
    code = sweep.main(["--param", "RT_ATR_STOP_K=2,0", "--start", "2016-01-04"])
    assert code == 1
    err = capsys.readouterr().err
    assert "--param row 2: RT_ATR_STOP_K='0': out of range" in err
    assert "connect" not in err.lower()
