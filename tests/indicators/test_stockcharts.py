"""indicators_daily against the StockCharts ChartSchool worked examples (tests/fixtures/reference).

The series are loaded as made-up symbols by the incremental scenario (bars_daily rows written before its
first full build). Which reference columns are trusted: see the README there.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.indicators.conftest import REFERENCE, query

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def series(url, symbol: str, column: str) -> pd.Series:
    rows = query(url, f"select d, {column} from marts.indicators_daily where symbol = %s order by d", (symbol,))  # noqa: S608
    return pd.Series({d: v for d, v in rows}, dtype=float)


def reference(filename: str) -> pd.DataFrame:
    frame = pd.read_csv(REFERENCE / filename)
    frame.index = pd.to_datetime(frame["Date"], format="%d-%b-%y").dt.date
    return frame


def test_rsi_matches_the_published_chartschool_values(incremental_scenario):
    rsi = series(incremental_scenario["url"], "CS_RSI", "rsi_14")
    assert rsi.iloc[:14].isna().all()
    assert round(rsi[dt.date(2010, 1, 5)], 2) == 70.53
    assert round(rsi[dt.date(2010, 2, 1)], 2) == 37.77


def test_sma20_matches_the_bollinger_middle_band(incremental_scenario):
    sma = series(incremental_scenario["url"], "CS_BB", "sma_20")
    middle = reference("cs-bbands.csv")["MiddleBand"].astype(float)
    both = middle.notna()
    assert sma[~both.to_numpy()].isna().all()
    assert ((sma[both.to_numpy()] - middle[both]).abs() / middle[both]).max() < 1e-12


def test_atr_follows_the_chartschool_recurrence(incremental_scenario):
    """True ranges equal ChartSchool's from the 2nd row; ATR differs only by the seed convention (TA-Lib's
    first ATR averages the true ranges of bars 2..15, ChartSchool's of bars 1..14), a difference that
    decays by exactly 13/14 a bar under the same Wilder smoothing."""
    url = incremental_scenario["url"]
    ref = reference("cs-atr.csv")
    rows = query(
        url,
        "select d, adj_high, adj_low, adj_close, atr_14 from marts.indicators_daily where symbol = 'CS_ATR' order by d",
    )
    ours = pd.DataFrame(rows, columns=["d", "h", "l", "c", "atr"]).set_index("d").astype(float)
    prev = ours["c"].shift()
    true_range = pd.concat([ours["h"] - ours["l"], (ours["h"] - prev).abs(), (ours["l"] - prev).abs()], axis=1)
    assert (true_range.max(axis=1).iloc[1:] - ref["TR"].astype(float).iloc[1:]).abs().max() < 1e-9
    assert ours["atr"].iloc[:14].isna().all() and ours["atr"].iloc[14:].notna().all()
    cs_atr = ref["ATR"].astype(float)
    gap = ours["atr"].iloc[14:] - cs_atr.iloc[14:]
    decayed = gap.iloc[0] * (13 / 14) ** pd.Series(range(len(gap)), index=gap.index)
    assert (gap - decayed).abs().max() < 1e-6  # the file's ATR has 10 decimals
