"""A file load that re-reads rows raw already holds writes nothing (ingestion.common.holds_already).

Every night the file source re-reads each symbol's tail (and all corporate actions, the constituents, the
membership tables and the rejects). When those rows equal what raw holds, nothing may change: no new
loaded_at, no rewritten tuple, no dlt load, so the nightly can tell that nothing new arrived and skip its
build. A table with any difference is written whole, exactly as before. Real Postgres, real dlt; no mocks.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pyarrow as pa
import pytest

from ingestion.common import WHOLE_TABLE, holds_already
from ingestion.config import IngestConfig
from ingestion.contract import BARS, CORPORATE_ACTIONS, MEMBERSHIP_INTERVALS, TABLES, RawTable
from ingestion.pipeline import summarize
from rapidtrader.db import DbUrl
from rapidtrader.jobs import eod_ingest
from rapidtrader.settings import Settings
from tests.conftest import query

pytestmark = [pytest.mark.e2e]

DAYS = list(pd.bdate_range("2024-01-02", periods=20).date)
RAW_TABLES = {t.name for t in TABLES}
REREAD_DAYS = IngestConfig().reread_days


def bar_rows(symbols=("AAA", "BBB"), days=DAYS) -> list[dict]:
    return [
        {"symbol": s, "date": d.isoformat(), "open": 10 + i, "high": 11 + i, "low": 9 + i, "close": 10.25 + i / 3}
        | {"volume": 1000 + i}
        for s in symbols
        for i, d in enumerate(days)
    ]


def write_folder(folder: Path) -> Path:
    """Bars for two symbols, a corporate action, the constituent list, a user's membership file and a
    ticker change file: every table the file source writes."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(bar_rows()).to_csv(folder / "my_bars.csv", index=False)
    pd.DataFrame([{"symbol": "AAA", "date": DAYS[3].isoformat(), "action": "dividend", "value": 0.1}]).to_csv(
        folder / "corporate_actions.csv", index=False
    )
    pd.DataFrame({"symbol": ["AAA", "BBB"], "name": ["Aaa Inc", "Bbb Inc"], "sector": "Energy"}).to_csv(
        folder / "sp500_constituents_test.csv", index=False
    )
    (folder / "sp500_membership.csv").write_text("symbol,date_added,date_removed\nAAA,2020-01-02,\nBBB,2020-01-02,\n")
    (folder / "ticker_changes.csv").write_text("old_symbol,new_symbol,date\nOLDA,AAA,2019-01-02\n")
    return folder


def load(url: DbUrl, folder: Path):
    """The nightly job's load (windows from the last clean bars, else the newest raw bars)."""
    return eod_ingest.load(url, "sample", Settings(db_url=url.url, sample_dir=folder))


def raw_state(url: DbUrl) -> dict[str, list[tuple]]:
    """Every table of raw_sample and its staging dataset, each row whole (loaded_at and _dlt_load_id
    included) with the tuple's xmin and ctid: a row rewritten with the same values still shows."""
    tables = query(
        url,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('raw_sample', 'raw_sample_staging') order by 1",
    )
    return {
        t: query(url, f"select xmin::text, ctid::text, r::text from {t} as r order by ctid")  # noqa: S608
        for (t,) in tables
    }


def loads(url: DbUrl) -> int:
    return query(url, "select count(*) from raw_sample._dlt_loads")[0][0]


def changed_tables(before: dict, after: dict) -> set[str]:
    """The raw contract tables whose rows or tuples differ (dlt's own `_dlt_*` tables left out)."""
    names = {t for t in before.keys() | after.keys() if t.split(".")[1] in RAW_TABLES}
    return {t.split(".")[1] for t in names if before.get(t) != after.get(t)}


@pytest.fixture()
def db(scratch_db) -> DbUrl:
    return scratch_db("unchanged")


# ---------------------------------------------------------------------------------------------------------
# Through the nightly load
# ---------------------------------------------------------------------------------------------------------


def test_loading_the_same_folder_again_changes_nothing_in_raw(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    first = load(db, folder)
    assert first.bar_rows == 2 * len(DAYS) and first.report.unchanged == []
    before, loads_before = raw_state(db), loads(db)
    assert loads_before == 1

    again = load(db, folder)
    assert raw_state(db) == before  # every row, every tuple, the _dlt_* tables too
    assert loads(db) == loads_before
    assert again.rows == {} and again.bar_rows == 0
    assert set(again.report.unchanged) == RAW_TABLES
    # the report judges the symbols as before: both are covered, their newest bar is the files' newest
    assert again.report.coverage == 1.0 and again.report.failures == {}
    # ... and counts the rows it re-read, as before: the bars of the re-read window
    window_start = DAYS[-1] - dt.timedelta(days=REREAD_DAYS)
    assert again.report.rows == query(db, "select count(*) from raw_sample.bars where d >= %s", (window_start,))[0][0]
    code, text = summarize(again, 0.9)
    assert code == 0
    assert text.splitlines()[0] == (
        f"sample: nothing changed in raw_sample ({len(RAW_TABLES)} tables re-read, all equal to what is stored; "
        "nothing written)"
    )


def test_a_corrected_close_in_the_reread_window_rewrites_the_window_and_nothing_else(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    before = raw_state(db)
    (first_loaded,) = query(db, "select max(loaded_at) from raw_sample.bars")[0]

    rows = bar_rows()
    corrected = next(r for r in rows if r["symbol"] == "AAA" and r["date"] == DAYS[-2].isoformat())
    corrected["close"] += 0.5
    pd.DataFrame(rows).to_csv(folder / "my_bars.csv", index=False)
    result = load(db, folder)

    assert set(result.rows) == {"bars"} and result.bar_rows > 0
    assert changed_tables(before, raw_state(db)) == {"bars"}
    assert loads(db) == 2
    stored = query(db, "select close from raw_sample.bars where symbol = 'AAA' and d = %s", (DAYS[-2],))
    assert stored == [(corrected["close"],)]
    # the whole re-read window is written as always (a new loaded_at), the history before it is not
    window_start = DAYS[-1] - dt.timedelta(days=REREAD_DAYS)
    stamps = query(
        db,
        "select d >= %s, min(loaded_at) > %s, max(loaded_at) > %s from raw_sample.bars group by 1 order by 1",
        (window_start, first_loaded, first_loaded),
    )
    assert stamps == [(False, False, False), (True, True, True)]


def test_a_new_session_is_written(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    before = raw_state(db)

    new_day = (pd.Timestamp(DAYS[-1]) + pd.offsets.BDay(1)).date()
    pd.DataFrame(bar_rows(days=[new_day])).to_csv(folder / f"my_bars_{new_day}.csv", index=False)
    result = load(db, folder)

    assert set(result.rows) == {"bars"}
    assert query(db, "select symbol from raw_sample.bars where d = %s order by 1", (new_day,)) == [("AAA",), ("BBB",)]
    assert changed_tables(before, raw_state(db)) == {"bars"}
    assert result.report.newest == {"AAA": new_day, "BBB": new_day}


def test_a_changed_constituent_list_is_written(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    before = raw_state(db)

    pd.DataFrame({"symbol": ["AAA", "BBB"], "name": ["Aaa Inc", "Bbb Inc"], "sector": ["Energy", "Utilities"]}).to_csv(
        folder / "sp500_constituents_test.csv", index=False
    )
    result = load(db, folder)

    assert set(result.rows) == {"constituents"}
    assert changed_tables(before, raw_state(db)) == {"constituents"}
    assert query(db, "select symbol, sector from raw_sample.constituents order by 1") == [
        ("AAA", "Energy"),
        ("BBB", "Utilities"),
    ]


def test_a_removed_membership_file_empties_its_table(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    assert query(db, "select count(*) from raw_sample.membership_intervals") == [(2,)]
    before = raw_state(db)

    (folder / "sp500_membership.csv").unlink()
    result = load(db, folder)
    assert set(result.rows) == {"membership_intervals"}
    assert changed_tables(before, raw_state(db)) == {"membership_intervals"}
    assert query(db, "select count(*) from raw_sample.membership_intervals") == [(0,)]

    # ... and an empty table stays as it is when the file is still gone
    before = raw_state(db)
    assert load(db, folder).rows == {}
    assert raw_state(db) == before


def test_a_refused_row_is_written_to_rejects_and_the_bars_stay(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    before = raw_state(db)
    assert query(db, "select count(*) from raw_sample.rejects") == [(0,)]

    rows = [*bar_rows(), {"symbol": "B?B", "date": DAYS[-1].isoformat(), "close": 1.0}]
    pd.DataFrame(rows).to_csv(folder / "my_bars.csv", index=False)
    result = load(db, folder)

    assert set(result.rows) == {"rejects"}
    assert changed_tables(before, raw_state(db)) == {"rejects"}
    assert query(db, "select symbol_text, reason from raw_sample.rejects") == [("B?B", "invalid_symbol")]


# ---------------------------------------------------------------------------------------------------------
# holds_already on its own: what counts as the same rows
# ---------------------------------------------------------------------------------------------------------


def create(url: DbUrl, table: RawTable, rows: list[tuple]) -> None:
    conn = psycopg2.connect(url.with_password().url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create schema if not exists raw_t")
        cur.execute(f"create table raw_t.{table.name} ({', '.join(f'{n} {t}' for n, t in table.sql_columns())})")
        for row in rows:
            cur.execute(f"insert into raw_t.{table.name} values ({', '.join(['%s'] * len(row))})", row)  # noqa: S608
    conn.close()


LOADED = dt.datetime(2024, 1, 2, 22, 0, tzinfo=dt.UTC)
ACTIONS = [
    ("AAA", dt.date(2024, 1, 3), "dividend", 0.1, "file:a.csv", LOADED),
    ("AAA", dt.date(2024, 1, 3), "split", 4.0, "file:a.csv", LOADED),
    ("BBB", dt.date(2024, 1, 4), "dividend", None, "file:b.csv", LOADED),
]


def actions_frame(rows=ACTIONS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CORPORATE_ACTIONS.names)


def test_the_same_rows_in_other_types_and_order_are_held(db):
    create(db, CORPORATE_ACTIONS, ACTIONS)
    url = db.with_password().url
    # another load time, reversed order, and the values as pandas, numpy and Decimal give them
    frame = actions_frame(reversed(ACTIONS)).assign(loaded_at=pd.Timestamp.now(tz="UTC"))
    frame["d"] = pd.to_datetime(frame["d"])  # Timestamps at midnight
    assert holds_already(url, "raw_t", CORPORATE_ACTIONS, frame, WHOLE_TABLE)
    frame["value"] = pd.Series([None, np.float64(4.0), Decimal("0.1")], dtype=object)
    assert holds_already(url, "raw_t", CORPORATE_ACTIONS, frame, WHOLE_TABLE)
    arrow = pa.Table.from_pandas(actions_frame(), schema=CORPORATE_ACTIONS.arrow_schema(), preserve_index=False)
    assert holds_already(url, "raw_t", CORPORATE_ACTIONS, arrow, WHOLE_TABLE)


@pytest.mark.parametrize(
    "change",
    ["value", "value_null", "null_value", "repeat", "missing", "extra", "source_ref", "nan"],
)
def test_any_difference_is_not_held(db, change):
    create(db, CORPORATE_ACTIONS, ACTIONS)
    rows = [list(r) for r in ACTIONS]
    if change == "value":
        rows[0][3] = 0.1 + 1e-15  # a double differs in its last bits
    elif change == "value_null":
        rows[0][3] = None
    elif change == "null_value":
        rows[2][3] = 0.0
    elif change == "repeat":  # the same count of rows, one of them twice
        rows[2] = rows[0]
    elif change == "missing":
        rows.pop()
    elif change == "extra":
        rows.append(["CCC", dt.date(2024, 1, 5), "dividend", 0.2, "file:b.csv", LOADED])
    elif change == "source_ref":
        rows[1][4] = "file:c.csv"
    elif change == "nan":
        rows[0][3] = float("nan")
    arrow = pa.Table.from_pylist(
        [dict(zip(CORPORATE_ACTIONS.names, r, strict=True)) for r in rows], schema=CORPORATE_ACTIONS.arrow_schema()
    )
    assert not holds_already(db.with_password().url, "raw_t", CORPORATE_ACTIONS, arrow, WHOLE_TABLE)


def test_only_the_rows_in_scope_are_compared(db):
    create(db, CORPORATE_ACTIONS, ACTIONS)
    url = db.with_password().url
    bbb = actions_frame([ACTIONS[2]])
    assert holds_already(url, "raw_t", CORPORATE_ACTIONS, bbb, "symbol = 'BBB'")
    assert not holds_already(url, "raw_t", CORPORATE_ACTIONS, bbb, WHOLE_TABLE)
    assert not holds_already(url, "raw_t", CORPORATE_ACTIONS, bbb, "symbol = 'AAA'")


def test_bigint_and_date_values_from_other_types(db):
    row = ("AAA", dt.date(2024, 1, 2), 1.0, 2.0, 0.5, 1.5, None, 100.0, 0, "file:x.csv", LOADED, None)
    create(db, BARS, [row, (*row[:8], 1, *row[9:])])
    url = db.with_password().url
    frame = pd.DataFrame([row, (*row[:8], 1, *row[9:])], columns=BARS.names)
    frame["dup_seq"] = frame["dup_seq"].astype(float)  # 0.0 and 1.0, as a column with a gap would give
    frame["d"] = np.datetime64("2024-01-02")
    assert holds_already(url, "raw_t", BARS, frame, WHOLE_TABLE)
    frame["dup_seq"] = [0.0, 0.5]
    assert not holds_already(url, "raw_t", BARS, frame, WHOLE_TABLE)


def test_a_missing_table_never_holds_rows_and_an_empty_one_holds_none(db):
    url = db.with_password().url
    empty = MEMBERSHIP_INTERVALS.arrow_schema().empty_table()
    assert not holds_already(url, "raw_t", MEMBERSHIP_INTERVALS, empty, WHOLE_TABLE)  # the load must create it
    create(db, MEMBERSHIP_INTERVALS, [])
    assert holds_already(url, "raw_t", MEMBERSHIP_INTERVALS, empty, WHOLE_TABLE)


def test_rows_without_a_contract_column_are_a_mistake_not_a_difference(db):
    create(db, CORPORATE_ACTIONS, ACTIONS)
    with pytest.raises(ValueError, match=r"lack the contract columns \['source_ref'\]"):
        holds_already(db.with_password().url, "raw_t", CORPORATE_ACTIONS, actions_frame().drop(columns="source_ref"))
