"""The file source does not read a bar file unchanged since its last read (ingestion/sample/records.py).

Two kinds of tests. The skip is on: a file whose record stands in for it is not read again (these fail if
every file is read every night). The skip is never too eager: each case that could make a record wrong
(a changed file with its size and time put back, a removed file, raw rows truncated, deleted or changed by
hand, a new reader, refused rows, a future-dated row, a window moved back, the membership and action
files) is run twice on twin databases and folders, once with records and once with every file read in
full, and must give the same raw rows and the same report. Real Postgres, real dlt; no mocks but the two
switches (records off, a new reader version).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ingestion.sample as sample
from ingestion.contract import TABLES
from ingestion.sample import records
from rapidtrader.db import DbUrl
from rapidtrader.jobs import eod_ingest
from rapidtrader.settings import Settings
from tests.conftest import execute, query

pytestmark = [pytest.mark.e2e]

DAYS = list(pd.bdate_range("2024-01-02", periods=60).date)
SYMBOLS = ("AAA", "BBB")
HISTORY = "history.csv"


def bar_lines(days, symbols=SYMBOLS, bump: float = 0.0) -> list[str]:
    """Fixed-width rows, so that a changed price can keep the file's size."""
    return [
        f"{s},{d.isoformat()},{10 + i % 7:.2f},{12 + i % 7:.2f},{9 + i % 7:.2f},{11 + i % 7 + bump:.2f},{1000 + i}"
        for s in symbols
        for i, d in enumerate(days)
    ]


def write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(["symbol,date,open,high,low,close,volume", *lines]) + "\n")


def write_folder(folder: Path) -> Path:
    """Twenty-odd years in small: a history file up to the day before last, a day file with the last day,
    a corporate action, the constituents and a ticker change file."""
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / HISTORY, bar_lines(DAYS[:-1]))
    write(folder / f"day_{DAYS[-1]}.csv", [f"{s},{DAYS[-1]},10.00,12.00,9.00,11.00,5" for s in SYMBOLS])
    (folder / "corporate_actions.csv").write_text(f"symbol,date,action,value\nAAA,{DAYS[10]},dividend,0.1\n")
    (folder / "sp500_constituents_test.csv").write_text("symbol,name,sector\nAAA,Aaa Inc,Energy\nBBB,Bbb Inc,Energy\n")
    (folder / "ticker_changes.csv").write_text("old_symbol,new_symbol,date\nOLDA,AAA,2019-01-02\n")
    return folder


def load(url: DbUrl, folder: Path, **options):
    return eod_ingest.load(url, "sample", Settings(db_url=url.url, sample_dir=folder), **options)


@pytest.fixture()
def reads(monkeypatch) -> list[str]:
    """The names of the files the source parses, in order."""
    names: list[str] = []
    real = sample.read_table

    def counting(path: Path):
        names.append(path.name)
        return real(path)

    monkeypatch.setattr(sample, "read_table", counting)
    return names


def bar_reads(names: list[str]) -> set[str]:
    return {n for n in names if n == HISTORY or n.startswith("day_")}


def contents(url: DbUrl) -> dict[str, list[tuple]]:
    """Every contract table of raw_sample, rows without their load stamp, sorted."""
    out = {}
    for table in TABLES:
        if query(url, "select to_regclass(%s)", (f"raw_sample.{table.name}",))[0][0] is None:
            continue
        cols = ", ".join(c.name for c in table.columns if c.name != "loaded_at")
        out[table.name] = query(url, f"select {cols} from raw_sample.{table.name} order by 1, 2, 3")  # noqa: S608
    return out


def outcome(result) -> tuple:
    r = result.report
    return (result.rows, r.rows, sorted(r.requested), r.failures, r.available, r.newest, sorted(r.loaded_symbols))


Scenario = Callable[[DbUrl, Path], list]


def twin(scratch_db, tmp_path: Path, monkeypatch, scenario: Scenario, reads: list | None = None):
    """Run `scenario(db, folder)` (it returns its load results) with records, then on a twin database and
    folder with every file read in full; both must leave the same raw rows and report the same. Returns
    the database with records, its results and the files it read (given `reads`)."""
    with_records = scratch_db("records")
    got = scenario(with_records, write_folder(tmp_path / "with"))
    read_with_records = list(reads or [])
    with monkeypatch.context() as m:
        m.setattr(records, "load_records", lambda *_: {})
        full = scratch_db("full_read")
        expected = scenario(full, write_folder(tmp_path / "full"))
    assert contents(with_records) == contents(full)
    assert [outcome(r) for r in got] == [outcome(r) for r in expected]
    return with_records, got, read_with_records


def restore_mtime(path: Path, change: Callable[[], None]) -> None:
    before = path.stat()
    change()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


# ---------------------------------------------------------------------------------------------------------
# The skip is on
# ---------------------------------------------------------------------------------------------------------


def test_an_unchanged_file_is_not_read_again(scratch_db, tmp_path, reads):
    db = scratch_db("records")
    folder = write_folder(tmp_path / "f")
    (folder / f"day_{DAYS[-1]}.csv").unlink()
    load(db, folder)
    assert bar_reads(reads) == {HISTORY}
    assert query(db, "select file_name from raw_sample.file_records") == [(HISTORY,)]

    # a new session arrives: only its file is read; the history's rows in the window come from its record
    write(folder / f"day_{DAYS[-1]}.csv", [f"{s},{DAYS[-1]},10,12,9,11,5" for s in SYMBOLS])
    reads.clear()
    result = load(db, folder)
    assert bar_reads(reads) == {f"day_{DAYS[-1]}.csv"}
    assert result.report.files_skipped == 1
    assert query(db, "select count(*), max(d) from raw_sample.bars") == [(2 * len(DAYS), DAYS[-1])]

    # nothing new: no bar file is read, and nothing is written
    reads.clear()
    again = load(db, folder)
    assert bar_reads(reads) == set()
    assert again.report.files_skipped == 2 and again.rows == {}
    # the other files are small and always read
    assert {"corporate_actions.csv", "ticker_changes.csv"} <= set(reads)


def test_a_new_session_with_records_gives_the_full_reads_rows(scratch_db, tmp_path, monkeypatch):
    def scenario(db, folder):
        day = folder / f"day_{DAYS[-1]}.csv"
        text = day.read_text()
        day.unlink()
        results = [load(db, folder)]
        day.write_text(text)
        return [*results, load(db, folder), load(db, folder)]

    db, results, _ = twin(scratch_db, tmp_path, monkeypatch, scenario)
    assert results[-1].report.files_skipped == 2


# ---------------------------------------------------------------------------------------------------------
# The skip is never too eager
# ---------------------------------------------------------------------------------------------------------


def test_a_changed_file_with_its_size_and_time_put_back_is_read(scratch_db, tmp_path, monkeypatch, reads):
    def scenario(db, folder):
        first = load(db, folder)
        restore_mtime(folder / HISTORY, lambda: write(folder / HISTORY, bar_lines(DAYS[:-1], bump=0.5)))
        return [first, load(db, folder)]

    db, results, read = twin(scratch_db, tmp_path, monkeypatch, scenario, reads)
    assert results[-1].report.files_skipped == 1 and read.count(HISTORY) == 2  # the day file skipped only
    # the corrected closes of the re-read window are in raw
    assert query(db, "select close from raw_sample.bars where symbol = 'AAA' and d = %s", (DAYS[-2],)) == [
        (11 + (len(DAYS) - 2) % 7 + 0.5,)
    ]


def test_a_removed_file(scratch_db, tmp_path, monkeypatch):
    def scenario(db, folder):
        first = load(db, folder)
        (folder / f"day_{DAYS[-1]}.csv").unlink()
        return [first, load(db, folder), load(db, folder)]

    db, _, _ = twin(scratch_db, tmp_path, monkeypatch, scenario)
    assert query(db, "select file_name from raw_sample.file_records") == [(HISTORY,)]


@pytest.mark.parametrize(
    "change",
    [
        "truncate raw_sample.bars",
        f"delete from raw_sample.bars where symbol = 'AAA' and d >= '{DAYS[-4]}'",
        f"update raw_sample.bars set close = -1 where d = '{DAYS[-3]}'",
        "truncate raw_sample.rejects",
    ],
)
def test_raw_rows_changed_by_other_means(scratch_db, tmp_path, monkeypatch, change):
    def scenario(db, folder):
        first = [load(db, folder), load(db, folder)]
        execute(db, change)
        return [*first, load(db, folder)]

    twin(scratch_db, tmp_path, monkeypatch, scenario)


def test_rows_deleted_in_the_window_are_restored_from_the_record(scratch_db, tmp_path, reads):
    db = scratch_db("records")
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    before = contents(db)
    execute(db, f"delete from raw_sample.bars where d >= '{DAYS[-4]}' and d < '{DAYS[-2]}'")
    execute(db, f"update raw_sample.bars set close = -1 where d = '{DAYS[-2]}'")
    reads.clear()
    result = load(db, folder)
    assert bar_reads(reads) == set() and result.report.files_skipped == 2
    assert contents(db) == before


def test_a_new_reader_reads_every_file_again(scratch_db, tmp_path, monkeypatch, reads):
    db = scratch_db("records")
    folder = write_folder(tmp_path / "f")
    load(db, folder)
    monkeypatch.setattr(records, "reader_version", lambda: "a changed door")
    reads.clear()
    load(db, folder)
    assert bar_reads(reads) == {HISTORY, f"day_{DAYS[-1]}.csv"}
    assert query(db, "select distinct reader from raw_sample.file_records") == [("a changed door",)]


def test_a_file_with_refused_rows_is_read_every_time_until_fixed(scratch_db, tmp_path, monkeypatch, reads):
    def scenario(db, folder):
        write(folder / HISTORY, [*bar_lines(DAYS[:-1]), f"B?B,{DAYS[-2]},1,1,1,1,1"])
        first = [load(db, folder), load(db, folder)]
        write(folder / HISTORY, bar_lines(DAYS[:-1]))
        return [*first, load(db, folder)]

    db, _, read = twin(scratch_db, tmp_path, monkeypatch, scenario, reads)
    assert query(db, "select count(*) from raw_sample.rejects") == [(0,)]
    assert read.count(HISTORY) == 3  # read on each of the three loads


def test_a_future_dated_row_is_read_every_time(scratch_db, tmp_path, monkeypatch, reads):
    def scenario(db, folder):
        write(folder / HISTORY, [*bar_lines(DAYS[:-1]), "AAA,2099-12-31,1,1,1,1,1"])
        return [load(db, folder), load(db, folder)]

    _, _, read = twin(scratch_db, tmp_path, monkeypatch, scenario, reads)
    assert read.count(HISTORY) == 2


def test_a_window_before_the_records_tail_reads_the_file(scratch_db, tmp_path, monkeypatch, reads):
    def scenario(db, folder):
        first = [load(db, folder)]
        execute(db, f"update raw_sample.bars set close = -1 where d = '{DAYS[2]}'")
        return [*first, load(db, folder, start=DAYS[0]), load(db, folder, days=10), load(db, folder)]

    db, _, read = twin(scratch_db, tmp_path, monkeypatch, scenario, reads)
    assert query(db, "select count(*) from raw_sample.bars where close = -1") == [(0,)]
    assert read.count(HISTORY) == 2  # the first load and the one from DAYS[0]


def test_the_action_membership_and_ticker_change_files_are_always_read(scratch_db, tmp_path, monkeypatch):
    def scenario(db, folder):
        first = load(db, folder)
        (folder / "corporate_actions.csv").write_text(f"symbol,date,action,value\nAAA,{DAYS[11]},split,2\n")
        (folder / "ticker_changes.csv").write_text("old_symbol,new_symbol,date\nOLDB,BBB,2019-01-02\n")
        (folder / "sp500_membership.csv").write_text("symbol,date_added,date_removed\nAAA,2020-01-02,\n")
        return [first, load(db, folder), load(db, folder)]

    db, _, _ = twin(scratch_db, tmp_path, monkeypatch, scenario)
    assert query(db, "select old_symbol from raw_sample.ticker_changes where old_symbol = 'OLDB'") == [("OLDB",)]


def test_symbols_restricted_to_a_few(scratch_db, tmp_path, monkeypatch):
    def scenario(db, folder):
        return [load(db, folder, symbols=["AAA"]), load(db, folder), load(db, folder, symbols=["BBB"])]

    twin(scratch_db, tmp_path, monkeypatch, scenario)


def test_a_record_keeps_every_value_as_the_door_gave_it(tmp_path):
    """Missing, unreadable, infinite and negative-zero values come back from a record bit for bit."""
    path = tmp_path / "odd.csv"
    write(path, [f"AAA,{DAYS[0]},1,2,0.5,abc,7", f"AAA,{DAYS[1]},,inf,-0.0,1,1e20", f"AAA,{DAYS[1]},1,1,1,1,1"])
    frame = sample.read_table(path)
    loaded_at = pd.Timestamp("2024-01-02 22:00", tz="UTC")
    checked = sample.check_bar_keys(frame, "file:odd.csv", loaded_at)
    record = records.make_record("odd.csv", "x", checked, loaded_at)
    symbols, tail = (records._from_ipc(records._to_ipc(f)) for f in (record.symbols, record.tail))
    stored = records.FileRecord("odd.csv", "x", "r", symbols, tail)
    keep = np.ones(3, dtype=bool)
    expected = sample.bar_table([sample.bar_values(checked, "file:odd.csv", loaded_at)])
    got = sample.bar_table([stored.rows("file:odd.csv", loaded_at, keep)])
    assert got.equals(expected)
    assert stored.symbols.to_dict("records") == [
        {
            "symbol": "AAA",
            "first": DAYS[0],
            "last": DAYS[1],
            "tail_from": DAYS[1] - dt.timedelta(days=records.TAIL_DAYS),
        }
    ]
