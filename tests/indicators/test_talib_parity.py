"""Every indicator of indicators_daily equals TA-Lib's over the whole bundled sample.

Acceptance: every non-null value within 1e-9 relative of TA-Lib (`talib` 0.8.2, the official
wrapper), and nulls exactly where TA-Lib returns NaN, for SMA 20/50/100/200, RSI 14 and ATR 14 on the
adjusted OHLC of every symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.indicators.conftest import query

talib = pytest.importorskip("talib")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REL_TOL = 1e-9
COLUMNS = ["sma_20", "sma_50", "sma_100", "sma_200", "rsi_14", "atr_14"]


@pytest.fixture(scope="module")
def indicators(indicators_db) -> pd.DataFrame:
    cols = ["symbol", "d", "adj_high", "adj_low", "adj_close", "bar_number", "is_warm", *COLUMNS]
    rows = query(indicators_db, f"select {', '.join(cols)} from marts.indicators_daily order by symbol, d")
    return pd.DataFrame(rows, columns=cols)


def talib_reference(group: pd.DataFrame) -> dict[str, np.ndarray]:
    h, lo, c = (group[x].to_numpy(dtype=float) for x in ("adj_high", "adj_low", "adj_close"))
    return {
        "sma_20": talib.SMA(c, 20),
        "sma_50": talib.SMA(c, 50),
        "sma_100": talib.SMA(c, 100),
        "sma_200": talib.SMA(c, 200),
        "rsi_14": talib.RSI(c, 14),
        "atr_14": talib.ATR(h, lo, c, 14),
    }


def test_every_bar_of_bars_daily_has_an_indicator_row(indicators_db, indicators):
    (n_bars,) = query(indicators_db, "select count(*) from marts.bars_daily")[0]
    assert len(indicators) == n_bars > 600_000


def test_indicators_match_talib_within_1e9_and_nulls_match(indicators):
    worst: dict[str, float] = dict.fromkeys(COLUMNS, 0.0)
    null_mismatches: dict[str, list] = {c: [] for c in COLUMNS}
    for symbol, group in indicators.groupby("symbol", sort=False):
        for column, expected in talib_reference(group).items():
            actual = group[column].to_numpy(dtype=float)  # SQL null -> NaN
            mismatch = np.isnan(actual) != np.isnan(expected)
            if mismatch.any():
                null_mismatches[column].append((symbol, group["d"].to_numpy()[mismatch][:3].tolist()))
            both = ~np.isnan(actual) & ~np.isnan(expected)
            if both.any():
                diff = np.abs(actual[both] - expected[both])
                scale = np.abs(expected[both])
                rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)
                worst[column] = max(worst[column], float(rel.max()))
    assert all(not v for v in null_mismatches.values()), null_mismatches
    assert all(v <= REL_TOL for v in worst.values()), worst


def test_warm_up_nulls_and_is_warm(indicators):
    first = indicators.groupby("symbol").head(1)
    assert first["rsi_14"].isna().all() and first["atr_14"].isna().all()
    assert (indicators["bar_number"] >= 1).all()
    assert (indicators["is_warm"] == (indicators["bar_number"] >= 250)).all()
    assert indicators.loc[indicators["bar_number"] == 15, "rsi_14"].notna().all()
    assert indicators.loc[indicators["bar_number"] == 14, "rsi_14"].isna().all()
