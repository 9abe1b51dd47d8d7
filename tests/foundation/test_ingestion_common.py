"""Unit tests of the shared ingestion pieces: raw shape, duplicate numbering, load windows, sessions."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ingestion import door
from ingestion.common import (
    IngestionError,
    LoadWindow,
    in_scope,
    last_completed_session,
    plan_windows,
    to_bar_table,
    window_scope,
)
from ingestion.scrub import scrub


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


# ---------------------------------------------------------------------------------------------------------
# The door: one check for every source, before anything is written
# ---------------------------------------------------------------------------------------------------------


def test_plan_windows_days_count_back_from_the_anchor():
    end = dt.date.max  # the file source's end is open
    w = plan_windows(["A"], {}, end=end, history_start=dt.date.min, reread_days=5, days=10, anchor=dt.date(2018, 2, 7))
    assert w["A"] == LoadWindow(dt.date(2018, 1, 28), end)


def test_door_dates_accept_iso_and_typed_dates_only():
    sent = pd.Series(["2024-01-02", " 2024-01-03 ", "02/01/2024", "2017-13-45", "2024-1-2", "", None], dtype=object)
    days, problems = door.dates(sent)
    assert days.tolist()[:2] == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert {i: p[0] for i, p in problems.items()} == {
        2: "invalid_date",
        3: "invalid_date",
        4: "invalid_date",
        5: "missing_date",
        6: "missing_date",
    }
    assert problems[3][1] == "'2017-13-45' is not a calendar date"
    numbers_as_dates, problems = door.dates(pd.Series([20240102, 19700101]))
    assert numbers_as_dates.isna().all() and all(p[0] == "invalid_date" for p in problems.values())
    stamps, problems = door.dates(pd.Series([pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-02 15:30")]))
    assert stamps.tolist()[0] == dt.date(2024, 1, 2) and problems[1][0] == "invalid_date"


def test_door_numbers_flag_what_is_not_a_number_instead_of_coercing():
    values, bad = door.numbers(pd.Series(["1.5", "abc", None, "", "1e400", "True"], dtype="str"))
    assert values.tolist()[0] == 1.5 and values.tolist()[4] == float("inf")
    assert bad.tolist() == [False, True, False, False, False, True]
    values, bad = door.numbers(pd.Series([True, False]))
    assert values.isna().all() and bad.all()  # a boolean is not 1 or 0
    values, bad = door.numbers(pd.Series([1, 2.5, True, "7", None, dt.date(2024, 1, 2)], dtype=object))
    assert values.tolist()[:2] == [1.0, 2.5] and values.tolist()[3] == 7.0
    assert bad.tolist() == [False, False, True, False, False, True]


def test_door_keeps_every_row_either_accepted_or_rejected():
    frame = pd.DataFrame(
        {
            "symbol": ["AAA", "X" * 10_000, "", "A\x00B", "aaa", "A?X=1"],
            "date": ["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-02", "02/01/2024", "2024-01-03"],
            "open": ["1", "1", "1", "1", "1", "1"],
            "high": [2] * 6,
            "low": [0.5] * 6,
            "close": [1.5] * 6,
            "volume": ["10", "10", "10", "10", "10", "10"],
        }
    )
    checked = door.check_bars(
        frame, "file:x.csv", pd.Timestamp("2024-01-05", tz="UTC"), row_numbers=pd.Series(frame.index + 2)
    )
    assert len(checked.accepted) + len(checked.rejects) == len(frame)
    assert checked.accepted["symbol"].tolist() == ["AAA"]
    assert checked.rejects["reason"].tolist() == [
        "invalid_symbol",
        "missing_symbol",
        "invalid_symbol",
        "invalid_date",
        "invalid_symbol",
    ]
    assert checked.rejects["row_number"].tolist() == [3, 4, 5, 6, 7]
    assert checked.refused_symbols == {"AAA"}  # refused for its date: the file still offers AAA
    assert max(len(t) for t in checked.rejects["symbol_text"].dropna()) < 60
    assert all(len(t) <= door.ROW_TEXT_LIMIT for t in checked.rejects["row_text"])
    assert "\x00" not in "".join(str(v) for v in checked.rejects.to_numpy().ravel())


def test_door_corporate_actions():
    frame = pd.DataFrame(
        {
            "symbol": ["A", "A", "B", "C", "C", "D", "D"],
            "date": ["2017-13-45", "2020-01-02", "2020-01-02", "2020-01-02", "2020-01-02", "2020-01-02", "2020-01-02"],
            "action": ["split", "bogus", "Dividend", "split", "split", "split", "split"],
            "value": ["4", "1", "0.5", "2", "3", "2", "2"],
        }
    )
    checked = door.check_actions(frame, "file:ca.csv", pd.Timestamp("2024-01-05", tz="UTC"))
    assert checked.accepted[["symbol", "action", "value"]].values.tolist() == [
        ["B", "dividend", 0.5],
        ["D", "split", 2.0],
    ]
    assert checked.rejects["reason"].tolist() == [
        "invalid_date",
        "invalid_action",
        "duplicate_key_conflict",
        "duplicate_key_conflict",
    ]


def test_window_scope_is_sql_for_dlt():
    windows = {
        "AAA": LoadWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
        "BBB": LoadWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    }
    assert window_scope(windows) == "(symbol in ('AAA', 'BBB') and d between '2024-01-01' and '2024-01-31')"
    assert window_scope({}) == "1 = 0"
    assert in_scope("source_ref", ["file:it's {x}.csv"]) == "source_ref in ('file:it''s {{x}}.csv')"


def test_scrub_removes_keys_and_key_parameters():
    text = "GET https://x/stable/a?symbol=A&apikey=s3cr3t failed; token=abc; key s3cr3t"
    assert scrub(text, ["s3cr3t"]) == "GET https://x/stable/a?symbol=A&apikey=*** failed; token=***; key ***"
