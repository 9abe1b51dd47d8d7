"""Unit tests of the shared ingestion pieces: raw shape, duplicate numbering, load windows, sessions."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ingestion.common import IngestionError, last_completed_session, plan_windows, to_bar_table


def test_to_bar_table_keeps_bad_values_and_numbers_duplicates():
    frame = pd.DataFrame(
        {
            "symbol": [" aapl", "AAPL", "AAPL", "MSFT"],
            "date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-02"],
            "open": ["1", "1", "x", "2"],
            "high": [2, 2, 2, 3],
            "low": [0.5, 0.5, 0.5, 1],
            "close": [1.5, 1.5, 1.5, None],
            "volume": [10, 10, -1, 5],
        }
    )
    table = to_bar_table(frame, "test").to_pandas()
    assert list(table["symbol"]) == ["AAPL", "AAPL", "AAPL", "MSFT"]
    assert list(table["dup_seq"]) == [0, 1, 0, 0]
    assert pd.isna(table.loc[2, "open"])  # not a number: kept as null, quarantined later
    assert pd.isna(table.loc[3, "close"]) and table.loc[2, "volume"] == -1
    assert table["adj_close"].isna().all()


def test_to_bar_table_names_missing_columns():
    with pytest.raises(IngestionError, match="lacks columns"):
        to_bar_table(pd.DataFrame({"symbol": ["A"], "date": ["2024-01-02"]}), "file:x.csv")


def test_plan_windows_incremental_new_symbol_and_overrides():
    end = dt.date(2024, 6, 28)
    last = {"AAPL": dt.date(2024, 6, 27)}
    start = dt.date(2015, 1, 1)
    w = plan_windows(["AAPL", "NEW"], last, end=end, history_start=start, reread_days=5)
    assert w["AAPL"].start == dt.date(2024, 6, 22) and w["AAPL"].end == end
    assert w["NEW"].start == start  # a symbol added later still gets its full history
    w = plan_windows(["AAPL", "NEW"], last, end=end, history_start=start, reread_days=5, days=30)
    assert {s: x.start for s, x in w.items()} == {"AAPL": dt.date(2024, 5, 29), "NEW": dt.date(2024, 5, 29)}
    w = plan_windows(["AAPL"], last, end=end, history_start=start, reread_days=5, start=dt.date(2020, 1, 1))
    assert w["AAPL"].start == dt.date(2020, 1, 1)


@pytest.mark.parametrize(
    ("now_utc", "expected"),
    [
        ("2024-07-03 15:00", "2024-07-02"),  # Wednesday 11:00 New York, session open: yesterday's
        ("2024-07-03 21:30", "2024-07-03"),  # after the 13:00 early close (17:00 UTC) on July 3rd
        ("2024-07-04 22:00", "2024-07-03"),  # Independence Day holiday
        ("2024-07-06 12:00", "2024-07-05"),  # Saturday
        ("2024-07-08 13:00", "2024-07-05"),  # Monday before the open
        ("2024-07-08 20:30", "2024-07-08"),  # Monday after the 16:00 close
    ],
)
def test_last_completed_session(now_utc, expected):
    assert last_completed_session(pd.Timestamp(now_utc, tz="UTC")).isoformat() == expected
