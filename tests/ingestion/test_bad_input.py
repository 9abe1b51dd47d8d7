"""Hostile input (issue 12): it must not wedge a run, be coerced, or be lost.

Each test reproduces one reported failure through the real path (files -> door -> dlt -> Postgres -> dbt)
and states the behaviour that replaces it. Real Postgres, real dlt, real dbt; no mocks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from ingestion.common import (
    SYMBOLS_CHECKED,
    clean_stale_workdirs,
    ensure_raw_indexes,
    last_loaded_dates,
    make_workdir,
)
from ingestion.contract import TABLES
from ingestion.pipeline import summarize
from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl
from rapidtrader.jobs import eod_ingest
from rapidtrader.settings import Settings
from tests.conftest import execute, query
from tests.foundation.helpers import build_foundation

pytestmark = [pytest.mark.e2e]

DAYS = list(pd.bdate_range("2024-01-02", periods=30).date)
# 10,000 letters that do not compress (10,000 X's would fit a btree entry once compressed): the symbol
# that made every later run fail with "index row requires 10024 bytes".
HUGE = "".join(random.Random(12).choices(string.ascii_uppercase, k=10_000))
COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]


def bar(symbol: str, day: dt.date | str, price: float = 100.0, **changes) -> dict:
    row = {
        "symbol": symbol,
        "date": day.isoformat() if isinstance(day, dt.date) else day,
        "open": price,
        "high": price + 1,
        "low": price - 1,
        "close": price + 0.5,
        "volume": 1000,
    }
    row.update(changes)
    return row


def bars(symbol: str, days, price: float = 100.0) -> list[dict]:
    return [bar(symbol, d, price) for d in days]


def write_folder(folder: Path, rows: list[dict], universe=("AAA", "BBB", "CCC"), name: str = "my_bars.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / name, index=False)
    pd.DataFrame({"symbol": list(universe), "name": list(universe), "sector": ["Energy"] * len(universe)}).to_csv(
        folder / "sp500_constituents_test.csv", index=False
    )
    return folder


def load(url: DbUrl, folder: Path, **window):
    return eod_ingest.load(url, "sample", Settings(db_url=url.url, sample_dir=folder), **window)


@pytest.fixture()
def db(scratch_db) -> DbUrl:
    return scratch_db("bad")


def rows_of(url: DbUrl, sql: str, params: tuple = ()) -> list[tuple]:
    return query(url, sql, params)


# ---------------------------------------------------------------------------------------------------------
# 1. A symbol no ticker looks like is refused at the door; nothing stored can wedge the next run
# ---------------------------------------------------------------------------------------------------------


def test_huge_symbol_is_refused_at_the_door_and_later_runs_work(db, tmp_path):
    rows = bars("AAA", DAYS[:5]) + [bar(HUGE, DAYS[0]), bar("A\x00B", DAYS[1])]
    folder = write_folder(tmp_path / "f", rows)
    first = load(db, folder)
    assert first.bar_rows == 5
    assert first.report.reject_line("raw_sample").startswith("rejected 2 row(s) at the door (invalid_symbol 2)")
    second = load(db, folder)  # the run after: used to fail with "index row requires 10024 bytes"
    assert second.report is not None
    assert rows_of(db, "select count(*), max(length(symbol)) from raw_sample.bars") == [(5, 3)]
    indexes = {r[0] for r in rows_of(db, "select indexname from pg_indexes where schemaname = 'raw_sample'")}
    assert {"bars_key", "constituents_key", "rejects_key"} <= indexes
    rejects = rows_of(db, "select reason, symbol_text, row_number, source_ref from raw_sample.rejects order by 3")
    assert [(r[0], r[2], r[3]) for r in rejects] == [
        ("invalid_symbol", 7, "file:my_bars.csv"),
        ("invalid_symbol", 8, "file:my_bars.csv"),
    ]
    assert rejects[0][1] == HUGE[:32] + "...(10000 chars)"  # kept for people, cut so it can never wedge
    assert rejects[1][1] == "A\\x00B"  # the NUL byte escaped: Postgres text cannot hold it

    build_foundation(db)
    held = rows_of(db, "select symbol, d, reason, detail from marts.bars_quarantine where reject_id is not null")
    assert sorted((r[1], r[2]) for r in held) == [(DAYS[0], "invalid_symbol"), (DAYS[1], "invalid_symbol")]
    assert any("10000 characters" in r[3] for r in held)
    assert rows_of(db, "select count(*) from marts.bars_daily where symbol = 'AAA'") == [(5,)]


def test_bad_symbol_stored_by_an_older_version_is_moved_out_so_the_index_builds(db, tmp_path):
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS[:5]))
    load(db, folder)
    # What an older version left behind: the row committed, the unique index impossible to build, and no
    # mark that the table's symbols were checked (the check runs until it has once found the table clean).
    assert rows_of(db, "select obj_description('raw_sample.bars'::regclass, 'pg_class')") == [(SYMBOLS_CHECKED,)]
    execute(db, "drop index raw_sample.bars_key")
    execute(db, "comment on table raw_sample.bars is null")
    execute(
        db,
        "insert into raw_sample.bars (symbol, d, open, high, low, close, volume, dup_seq, source_ref) "
        f"values ('{HUGE}', '2024-01-02', 1, 1, 1, 1, 1, 0, 'file:old.csv')",
    )
    with pytest.raises(psycopg2.errors.ProgramLimitExceeded, match="index row requires 10024 bytes"):
        execute(db, "create unique index bars_key on raw_sample.bars (symbol, d, dup_seq)")  # the wedge
    load(db, folder)
    assert rows_of(db, "select count(*) from raw_sample.bars") == [(5,)]
    assert rows_of(db, "select count(*) from pg_indexes where indexname = 'bars_key'") == [(1,)]
    (reason, detail, source_ref) = rows_of(db, "select reason, detail, source_ref from raw_sample.rejects")[0]
    assert (reason, source_ref) == ("invalid_symbol", "file:old.csv") and "stored before" in detail
    assert ensure_raw_indexes(db.with_password().url, "raw_sample") == 0  # nothing left to move
    assert rows_of(db, "select obj_description('raw_sample.bars'::regclass, 'pg_class')") == [(SYMBOLS_CHECKED,)]


# ---------------------------------------------------------------------------------------------------------
# 2. Numbers out of any sane range are quarantined before any cast; the other bars still build
# ---------------------------------------------------------------------------------------------------------


def test_out_of_range_numbers_are_quarantined_and_a_fixed_file_replaces_them(db, tmp_path):
    good = bars("AAA", DAYS[:10]) + bars("BBB", DAYS[:10])
    bad = {
        DAYS[3]: {"volume": "1e20"},  # above bigint: broke `volume::bigint` in bars_daily
        DAYS[4]: {"close": "inf"},
        DAYS[5]: {"open": "1e308", "high": "1e308", "low": "1e308", "close": "1e308"},
    }
    rows = bars("AAA", DAYS[:10]) + [bar("BBB", d, **bad.get(d, {})) for d in DAYS[:10]]
    folder = write_folder(tmp_path / "f", rows)
    load(db, folder)
    build_foundation(db)  # no cast error: the marts build
    held = rows_of(db, "select d, reasons from marts.bars_quarantine where symbol = 'BBB' order by d")
    assert held == [
        (DAYS[3], "volume_out_of_range"),
        (DAYS[4], "non_finite_number,price_out_of_range,close_outside_range"),
        (DAYS[5], "price_out_of_range"),
    ]
    assert dict(rows_of(db, "select symbol, count(*) from marts.bars_daily group by 1")) == {"AAA": 10, "BBB": 7}

    # The file is fixed; re-loading the affected window replaces the bad rows.
    write_folder(tmp_path / "f", good)
    load(db, folder, start=DAYS[3])
    build_foundation(db)
    assert rows_of(db, "select count(*) from marts.bars_quarantine") == [(0,)]
    assert dict(rows_of(db, "select symbol, count(*) from marts.bars_daily group by 1")) == {"AAA": 10, "BBB": 10}


# ---------------------------------------------------------------------------------------------------------
# 3. A quarantined future-dated row does not set the load window
# ---------------------------------------------------------------------------------------------------------


def test_future_dated_row_does_not_stop_new_bars(db, tmp_path):
    future = bar("AAA", dt.date(2099, 12, 31))
    folder = write_folder(tmp_path / "f", [*bars("AAA", DAYS[:10]), future, *bars("BBB", DAYS[:10])])
    load(db, folder)
    build_foundation(db)
    assert rows_of(db, "select reasons from marts.bars_quarantine") == [("future_date",)]
    # Three new sessions arrive for both symbols; the bad row is still in the file.
    write_folder(tmp_path / "f", [*bars("AAA", DAYS[:13]), future, *bars("BBB", DAYS[:13])])
    result = load(db, folder)
    assert result.report.coverage == 1.0 and result.report.failures == {}
    build_foundation(db)
    assert dict(rows_of(db, "select symbol, max(d) from marts.bars_daily group by 1")) == {
        "AAA": DAYS[12],
        "BBB": DAYS[12],
    }


def test_without_marts_the_window_ignores_future_rows(db, tmp_path):
    folder = write_folder(tmp_path / "f", [*bars("AAA", DAYS[:5]), bar("AAA", dt.date(2099, 12, 31))])
    load(db, folder)
    url = db.with_password().url
    assert last_loaded_dates(url, "raw_sample", until=dt.date(2026, 1, 1)) == {"AAA": DAYS[4]}
    assert eod_ingest.last_clean_dates(db, "sample") == {"AAA": DAYS[4]}  # no marts yet: raw, not after today


# ---------------------------------------------------------------------------------------------------------
# 4. A re-loaded window replaces what raw held for it
# ---------------------------------------------------------------------------------------------------------


def test_corrected_duplicate_is_replaced_by_the_reload_of_its_window(db, tmp_path):
    rows = bars("AAA", DAYS[:10])
    conflicts = [bar("AAA", DAYS[2], close=100.9), bar("AAA", DAYS[9], close=100.9)]
    folder = write_folder(tmp_path / "f", rows + conflicts)
    load(db, folder)
    build_foundation(db)
    assert rows_of(db, "select d, dup_seq, reason from marts.bars_quarantine order by 1, 2") == [
        (DAYS[2], 0, "duplicate_key_conflict"),
        (DAYS[2], 1, "duplicate_key_conflict"),
        (DAYS[9], 0, "duplicate_key_conflict"),
        (DAYS[9], 1, "duplicate_key_conflict"),
    ]
    assert eod_ingest.last_clean_dates(db, "sample") == {"AAA": DAYS[8]}  # the newest row is held
    write_folder(tmp_path / "f", rows)  # the file is corrected
    load(db, folder)  # a plain night: re-reads the days since the last clean bar (DAYS[8]) minus 5
    build_foundation(db)
    assert rows_of(db, "select d from marts.bars_quarantine group by d") == [(DAYS[2],)]  # outside that window
    load(db, folder, start=DAYS[0])  # re-loading the older window replaces it too
    build_foundation(db)
    assert rows_of(db, "select count(*) from raw_sample.bars") == [(10,)]
    assert rows_of(db, "select count(*) from marts.bars_quarantine") == [(0,)]
    assert rows_of(db, "select count(*) from marts.bars_daily") == [(10,)]


# ---------------------------------------------------------------------------------------------------------
# 6. --days N means something for the file source
# ---------------------------------------------------------------------------------------------------------


def test_days_loads_the_last_days_of_the_files(db, tmp_path):
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS) + bars("BBB", DAYS[:10]))
    result = load(db, folder, days=14)  # the 14 calendar days up to the files' newest date
    newest = DAYS[-1]
    got = rows_of(db, "select symbol, min(d), max(d), count(*) from raw_sample.bars group by 1")
    assert got == [("AAA", newest - dt.timedelta(days=14), newest, 11)]
    assert result.bar_rows == 11
    # BBB has nothing in those days: it is not covered, and the run says so.
    assert result.report.failures == {"BBB": "no bars loaded in its window"}
    code, text = summarize(result, 0.95)
    assert code == 1 and "coverage 50.0% of 2 symbols" in text


# ---------------------------------------------------------------------------------------------------------
# 7. The file source never guesses a type, never drops a row
# ---------------------------------------------------------------------------------------------------------


def test_file_source_refuses_to_guess_and_loses_nothing(db, tmp_path):
    folder = tmp_path / "f"
    good = bars("AAA", DAYS[:5])
    slashed = [bar("BBB", "02/01/2024"), bar("BBB", "2024-01-03")]  # dd/mm: the 2nd of January, or February?
    no_symbol = [bar("", DAYS[0]), bar(None, DAYS[1])]
    write_folder(folder, good + slashed + no_symbol)
    typed = pd.DataFrame(bars("CCC", DAYS[:3]))
    typed["date"] = [int(d.strftime("%Y%m%d")) for d in DAYS[:3]]  # an integer date is not 1970-01-01
    typed.to_parquet(folder / "int_dates.parquet")
    flags = pd.DataFrame(bars("CCC", DAYS[5:7]))
    flags["date"] = pd.to_datetime(flags["date"])
    flags["volume"] = [True, False]  # a boolean is not a volume of 1
    flags.to_parquet(folder / "bool_volume.parquet")
    sent = len(good) + len(slashed) + len(no_symbol) + len(typed) + len(flags)

    result = load(db, folder)
    line = result.report.reject_line("raw_sample")
    assert line.startswith("rejected 6 row(s) at the door")
    assert "invalid_date 4" in line and "missing_symbol 2" in line
    (stored,) = rows_of(db, "select count(*) from raw_sample.bars")[0]
    (refused,) = rows_of(db, "select count(*) from raw_sample.rejects where kind = 'bars'")[0]
    assert stored + refused == sent  # nothing dropped
    assert rows_of(db, "select count(*) from raw_sample.bars where d < '2000-01-01' or volume = 1") == [(0,)]
    assert rows_of(db, "select volume, unreadable from raw_sample.bars where symbol = 'CCC'") == [
        (None, "volume"),
        (None, "volume"),
    ]
    details = dict(rows_of(db, "select date_text, detail from raw_sample.rejects where reason = 'invalid_date'"))
    assert details["02/01/2024"] == "'02/01/2024' is not a date YYYY-MM-DD"
    assert details["20240102"] == "the date is a number (20240102), not YYYY-MM-DD"

    build_foundation(db)
    held = rows_of(db, "select symbol, reasons from marts.bars_quarantine order by 1, 2")
    assert ("CCC", "missing_volume,not_a_number") in held
    (clean,) = rows_of(db, "select count(*) from marts.bars_daily")[0]
    (quarantined,) = rows_of(db, "select count(*) from marts.bars_quarantine")[0]
    assert clean + quarantined == sent  # every row sent is a clean bar or in bars_quarantine


# ---------------------------------------------------------------------------------------------------------
# 14, 15. A bad file or setting is one line naming what to fix, never a traceback
# ---------------------------------------------------------------------------------------------------------


def run_cli(url: DbUrl, folder: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ)
    environ.update(
        RT_DB_URL=url.url,
        RT_SAMPLE_DIR=str(folder),
        RT_LOG_DIR=str(tmp_path / "logs"),
        RT_PROGRESS="0",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "rapidtrader.jobs.eod_ingest", "--source", "sample", *args],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_no_traceback(out: subprocess.CompletedProcess) -> None:
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both[-3000:]
    assert "Pending packages" not in both and "re-tried" not in both, both[-3000:]


def test_cli_reports_a_bad_date_and_a_nul_byte_in_one_line_each(db, tmp_path):
    folder = write_folder(tmp_path / "f", [*bars("AAA", DAYS[:3]), bar("AAA", "03/01/2024"), bar("B\x00B", DAYS[0])])
    (folder / "corporate_actions_x.csv").write_text("symbol,date,action,value\nAAA,2017-13-45,split,2\n")
    out = run_cli(db, folder, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_no_traceback(out)
    [line] = [x for x in out.stdout.splitlines() if x.startswith("rejected")]
    assert line.startswith("rejected 3 row(s) at the door (")
    assert "first: my_bars.csv line 5: '03/01/2024' is not a date YYYY-MM-DD (invalid_date)" in line
    reasons = rows_of(db, "select kind, reason, row_number, detail from raw_sample.rejects order by 1, 3")
    assert reasons == [
        ("bars", "invalid_date", 5, "'03/01/2024' is not a date YYYY-MM-DD"),
        ("bars", "invalid_symbol", 6, "the symbol has characters no ticker uses ('\\x00')"),
        ("corporate_actions", "invalid_date", 2, "'2017-13-45' is not a calendar date"),
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"sp500_constituents_x.csv": "symbol,name\nAAA,A\n"},
            "error: sp500_constituents_x.csv: no `sector` column (found: symbol, name)",
        ),
        (
            {"semi.csv": "symbol;date;open;high;low;close;volume\nAAA;2024-01-02;1;2;0.5;1.5;10\n"},
            "error: semi.csv is semicolon-separated",
        ),
        (
            {"short.csv": "symbol,date,open,high,low,close\nAAA,2024-01-02,1,2,0.5,1.5\n"},
            "error: short.csv: no `volume` column",
        ),
    ],
    ids=["constituents_without_sector", "semicolon_separated", "missing_column"],
)
def test_cli_bad_file_is_one_line_naming_file_and_column(db, tmp_path, files, expected):
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS[:3]))
    for name, text in files.items():
        (folder / name).write_text(text)
    out = run_cli(db, folder, tmp_path)
    assert out.returncode == 2
    assert_no_traceback(out)
    errors = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(expected), out.stderr
    assert len(out.stderr.splitlines()) <= 3, out.stderr  # the error, and the job log's one-line record


def test_cli_bad_setting_and_bad_symbol_flag_fail_fast(db, tmp_path):
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS[:3]))
    out = run_cli(db, folder, tmp_path, RT_MIN_COVERAGE="abc")
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: bad setting: RT_MIN_COVERAGE='abc': not a number; allowed: a number in [0, 1]"
    ]
    out = run_cli(db, folder, tmp_path, "--symbols", "AAA,A?X=1&Y=2")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --symbols: 'A?X=1&Y=2' is not a ticker: the symbol has characters no ticker uses ('&', '?')"
    ]


def test_cli_load_failure_is_one_line_and_promises_no_retry(db, tmp_path):
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS[:3]))
    assert run_cli(db, folder, tmp_path).returncode == 0
    # A failure inside dlt's load step that no retry can fix: the database refuses the rows.
    execute(db, "alter table raw_sample.bars add constraint no_aaa check (symbol <> 'AAA') not valid")
    # corrected prices, so the load has rows to write (rows raw already holds are not written again)
    write_folder(folder, bars("AAA", DAYS[:3], price=101.0))
    out = run_cli(db, folder, tmp_path, "--start", DAYS[0].isoformat())
    assert out.returncode == 2
    assert_no_traceback(out)
    [line] = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert "loading raw_sample failed at dlt's load step" in line and "no_aaa" in line
    assert "nothing of this run is retried" in line


# ---------------------------------------------------------------------------------------------------------
# 16. A killed run's working folder is cleaned by the next run, and only that
# ---------------------------------------------------------------------------------------------------------

SLOW_LOAD = """
import sys, time, dlt
from ingestion.common import run_pipeline

@dlt.resource(name="slow")
def slow():
    yield [{"a": 1}]
    time.sleep(600)

run_pipeline(slow(), credentials=sys.argv[1], dataset_name="raw_slow", pipeline_name="rt_slow")
"""


def test_working_folder_of_a_killed_run_is_removed_by_the_next_run(db, tmp_path, monkeypatch):
    base = tmp_path / "tmp"
    base.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_LOAD, db.with_password().url],
        cwd=PROJECT_ROOT,
        env=dict(os.environ, TMPDIR=str(base)),
    )
    try:
        deadline = time.monotonic() + 60
        while not list(base.glob(f"rt_dlt_{child.pid}_*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        [left] = list(base.glob(f"rt_dlt_{child.pid}_*"))
        time.sleep(1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert left.exists()  # kill -9: no cleanup ran
    ours_alive = make_workdir(base)  # a live run's folder (this process)
    other = base / "rt_dlt_other_tool"  # a name we would use, but fresh: not surely abandoned
    other.mkdir()
    not_ours = base / "somebody_else"
    not_ours.mkdir()

    monkeypatch.setattr(tempfile, "tempdir", str(base))
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS[:3]))
    load(db, folder)  # the next run cleans up first
    assert not left.exists()
    assert ours_alive.exists() and other.exists() and not_ours.exists()
    assert json.loads((ours_alive / "owner.json").read_text())["pid"] == os.getpid()
    assert clean_stale_workdirs(base) == []


# ---------------------------------------------------------------------------------------------------------
# The stored raw tables have exactly the contract's columns
# ---------------------------------------------------------------------------------------------------------


def test_raw_tables_have_the_contract_columns(db, tmp_path):
    folder = write_folder(tmp_path / "f", [*bars("AAA", DAYS[:3]), bar("", DAYS[0])])
    (folder / "corporate_actions_x.csv").write_text("symbol,date,action,value\nAAA,2024-01-03,split,2\n")
    load(db, folder)
    for table in TABLES:
        got = rows_of(
            db,
            "select column_name from information_schema.columns where table_schema = 'raw_sample' and table_name = %s",
            (table.name,),
        )
        assert {r[0] for r in got} == set(table.names), table.name


def test_asked_symbols_missing_from_the_files_are_failures(db, tmp_path):
    folder = write_folder(tmp_path / "f", bars("AAA", DAYS[:3]))
    result = load(db, folder, symbols=["AAA", "ZZZ", "A/../../B"])
    assert result.report.failures == {
        "ZZZ": "no rows for it in the bar files",
        "A/../../B": "not a ticker (the symbol has characters no ticker uses ('/'))",
    }
    assert result.report.coverage == pytest.approx(1 / 3)
