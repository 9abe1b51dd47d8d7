"""Malformed bars from a user's own file are quarantined with the right reason; good bars still load;
a re-run changes nothing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.conftest import query
from tests.foundation.helpers import build_foundation, load_files

pytestmark = [pytest.mark.e2e]


def _good(symbol: str, days: list[dt.date], price: float = 100.0) -> list[dict]:
    return [
        {
            "symbol": symbol,
            "date": d.isoformat(),
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price + 0.5,
            "volume": 1000,
        }
        for d in days
    ]


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_bars")
    days = list(pd.bdate_range("2024-01-02", periods=20).date)
    rows = _good("AAA", days) + _good("BBB", days[:10]) + _good("CCC", days[:5])
    bad = [
        # (symbol, date, changes, expected reason)
        ("BBB", days[10], {"close": -5.0, "low": -6.0}, "non_positive_price"),
        ("BBB", days[11], {"high": 90.0, "low": 95.0, "open": 92, "close": 93}, "high_below_low"),
        ("BBB", days[12], {"volume": -10}, "negative_volume"),
        ("BBB", days[13], {"close": None}, "missing_price"),
        ("BBB", days[14], {"close": "abc"}, "missing_price"),
        ("BBB", days[15], {"open": 150.0}, "open_outside_range"),
        ("BBB", days[16], {"close": 10.0}, "close_outside_range"),
        ("BBB", days[17], {"volume": None}, "missing_volume"),
        ("ZZZ", days[0], {}, "symbol_not_in_universe"),
        ("AAA", dt.date.today() + dt.timedelta(days=30), {}, "future_date"),
    ]
    expected = []
    for symbol, day, changes, reason in bad:
        row = _good(symbol, [day])[0]
        row.update(changes)
        rows.append(row)
        expected.append((symbol, day.isoformat(), 0, reason))
    # An identical duplicate of a good row: the first copy is kept, the repeat is quarantined.
    rows.append(_good("CCC", [days[0]])[0])
    expected.append(("CCC", days[0].isoformat(), 1, "duplicate_key"))
    # Conflicting duplicates: neither copy can be trusted.
    conflict = _good("CCC", [days[1]])[0]
    conflict["close"] = 100.9
    rows.append(conflict)
    expected += [
        ("CCC", days[1].isoformat(), 0, "duplicate_key_conflict"),
        ("CCC", days[1].isoformat(), 1, "duplicate_key_conflict"),
    ]
    pd.DataFrame(rows).to_csv(folder / "my_bars.csv", index=False)
    pd.DataFrame({"symbol": ["AAA", "BBB", "CCC"], "name": ["A", "B", "C"], "sector": ["Energy"] * 3}).to_csv(
        folder / "sp500_constituents_mine.csv", index=False
    )
    return folder, expected, len(rows)


@pytest.fixture(scope="module")
def loaded(scratch_db, bad_folder):
    folder, expected, n_rows = bad_folder
    url = scratch_db("malformed")
    load_files(url, folder)
    build_foundation(url)
    return url, expected, n_rows


def test_each_malformed_row_is_quarantined_with_its_reason(loaded):
    url, expected, _ = loaded
    rows = query(url, "select symbol, d::text, dup_seq, reason from marts.bars_quarantine order by 1, 2, 3")
    assert sorted(rows) == sorted(expected)


def test_good_bars_load_and_nothing_is_lost(loaded):
    url, expected, n_rows = loaded
    counts = dict(query(url, "select symbol, count(*) from marts.bars_daily group by 1"))
    assert counts == {"AAA": 20, "BBB": 10, "CCC": 4}  # CCC: 5 good days, one of them conflicting
    (held,) = query(url, "select count(*) from marts.bars_quarantine")[0]
    assert sum(counts.values()) + held == n_rows


def test_identical_duplicate_keeps_one_copy(loaded):
    url, expected, _ = loaded
    day = [e for e in expected if e[3] == "duplicate_key"][0][1]
    assert query(url, "select count(*) from marts.bars_daily where symbol = 'CCC' and d = %s", (day,))[0][0] == 1


def test_rerun_gives_the_same_result(loaded, bad_folder):
    url, expected, _ = loaded
    folder, _, _ = bad_folder
    before = query(url, "select symbol, d, dup_seq, reasons from marts.bars_quarantine order by 1, 2, 3")
    load_files(url, folder)
    build_foundation(url)
    assert query(url, "select symbol, d, dup_seq, reasons from marts.bars_quarantine order by 1, 2, 3") == before
