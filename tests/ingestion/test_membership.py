"""The file source's S&P 500 membership inputs, end to end: the pitindex package's bundled data, a user's
sp500_membership*.csv, ticker_changes*.csv, through the door, dlt, Postgres and dbt. No mocks; pitindex's
files are replaced by a folder of the same shape only to send it bad rows.

The bundled sample's membership (pitindex's events, the three renames, PCLN/CBG/HCN as members) is checked
in tests/foundation/test_sample_warehouse.py, which loads and builds the whole sample once.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ingestion.common import FetchReport, run_pipeline
from ingestion.sample import sample_source
from ingestion.sample.helpers import bar_files, membership_files, ticker_change_files
from ingestion.sample.membership import read_pitindex
from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import eod_ingest
from rapidtrader.settings import Settings
from tests.conftest import query

pytestmark = [pytest.mark.e2e]

DAYS = [d.date().isoformat() for d in pd.bdate_range("2024-01-02", periods=5)]
PIT_REF = f"pitindex:{importlib.metadata.version('pitindex')}"
TABLES = {
    "membership_events": "symbol, d, action, source_ref",
    "membership_intervals": "symbol, added_d, removed_d, source_ref",
    "ticker_changes": "old_symbol, new_symbol, d, source_ref",
    "rejects": "reject_id, kind, symbol_text, date_text, d, reason, detail, row_number, row_text, source_ref",
}


def pitindex_rows(name: str) -> list[dict]:
    """One of pitindex's bundled files, read here independently of the code under test."""
    with (importlib.resources.files("pitindex") / "data" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_folder(folder: Path, symbols=("AAA", "BBB")) -> Path:
    """A small folder of bar files (and the constituent list) standing in for a user's own."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"symbol": s, "date": d, "open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 100}
        for s in symbols
        for d in DAYS
    ]
    pd.DataFrame(rows).to_csv(folder / "my_bars.csv", index=False)
    pd.DataFrame({"symbol": list(symbols), "name": list(symbols), "sector": "Energy"}).to_csv(
        folder / "sp500_constituents_test.csv", index=False
    )
    return folder


def load(url: DbUrl, folder: Path):
    return eod_ingest.load(url, "sample", Settings(db_url=url.url, sample_dir=folder))


def snapshot(url: DbUrl) -> dict[str, list[tuple]]:
    return {t: query(url, f"select {cols} from raw_sample.{t} order by {cols}") for t, cols in TABLES.items()}  # noqa: S608


def build_membership(url: DbUrl) -> None:
    args = ["build", "--select", "+universe_membership", "+int_bars_checked", "--indirect-selection", "cautious"]
    result = run_dbt([*args, "--exclude", "path:dbt_project/tests/dq"], url, capture=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.fixture()
def db(scratch_db) -> DbUrl:
    return scratch_db("member")


# ---------------------------------------------------------------------------------------------------------
# Which file is what
# ---------------------------------------------------------------------------------------------------------


def test_membership_and_ticker_change_files_are_never_read_as_bars(tmp_path):
    names = [
        "my_bars.csv",
        "more.parquet",
        "sp500_constituents_2018.csv",
        "corporate_actions.csv",
        "sp500_membership.csv",
        "sp500_membership_2020.csv.gz",
        "ticker_changes.csv",
        "ticker_changes_mine.csv",
        "notes.txt",
    ]
    for name in names:
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in bar_files(tmp_path)] == ["more.parquet", "my_bars.csv"]
    assert [p.name for p in membership_files(tmp_path)] == ["sp500_membership.csv", "sp500_membership_2020.csv.gz"]
    assert [p.name for p in ticker_change_files(tmp_path)] == ["ticker_changes.csv", "ticker_changes_mine.csv"]


# ---------------------------------------------------------------------------------------------------------
# pitindex's data on every load; a user's interval file replaces it in dbt
# ---------------------------------------------------------------------------------------------------------


def test_every_load_carries_pitindex_and_a_users_membership_file_replaces_it(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    seed, changes = pitindex_rows("sp500_seed.csv"), pitindex_rows("sp500_changes.csv")

    load(db, folder)
    stored = snapshot(db)
    assert len(stored["membership_events"]) == len(seed) + len(changes)
    assert {r[3] for r in stored["membership_events"]} == {PIT_REF}
    renames = [r for r in changes if r["action"] == "removed" and r["reason"].startswith("rename →")]
    assert len(stored["ticker_changes"]) == len(renames) == 31
    assert ("FB", "META", pd.Timestamp("2022-06-09").date(), PIT_REF) in stored["ticker_changes"]
    assert stored["membership_intervals"] == [] and stored["rejects"] == []

    # A user's own membership file: loaded as intervals, and dbt uses it instead of the events.
    (folder / "sp500_membership.csv").write_text(
        "symbol,date_added,date_removed\nAAA,2024-01-03,\nBBB,2020-01-02,2024-01-05\nMETA,2013-12-23,\n"
    )
    load(db, folder)
    intervals = query(
        db, "select symbol, added_d::text, removed_d::text, source_ref from raw_sample.membership_intervals"
    )
    assert sorted(intervals) == [
        ("AAA", "2024-01-03", None, "file:sp500_membership.csv"),
        ("BBB", "2020-01-02", "2024-01-05", "file:sp500_membership.csv"),
        ("META", "2013-12-23", None, "file:sp500_membership.csv"),
    ]
    assert len(snapshot(db)["membership_events"]) == len(seed) + len(changes)  # still loaded, not used
    build_membership(db)
    members = query(
        db, "select symbol, added_d::text, removed_d::text, source from marts.universe_membership order by 1"
    )
    # FB is META's earlier ticker (pitindex's rename): it carries the company's interval from the file.
    assert members == [
        ("AAA", "2024-01-03", None, "file"),
        ("BBB", "2020-01-02", "2024-01-05", "file"),
        ("FB", "2013-12-23", None, "file"),
        ("META", "2013-12-23", None, "file"),
    ]

    # The file removed: the intervals are emptied and the bundled events apply again.
    (folder / "sp500_membership.csv").unlink()
    load(db, folder)
    assert query(db, "select count(*) from raw_sample.membership_intervals") == [(0,)]
    build_membership(db)
    sources = dict(query(db, "select source, count(*) from marts.universe_membership group by 1"))
    assert set(sources) == {"pitindex"} and sources["pitindex"] > 500
    # AAA and BBB are in the constituent list; a ticker that is in neither list nor membership stays out.
    outside = query(
        db, "select count(*) from intermediate.int_bars_checked where reasons like '%%symbol_not_in_universe%%'"
    )
    assert outside == [(0,)]


def test_a_second_load_leaves_the_same_rows(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    (folder / "sp500_membership.csv").write_text("symbol,date_added,date_removed\nAAA,2024-01-03,\nB?B,2024-01-03,\n")
    (folder / "ticker_changes.csv").write_text("old_symbol,new_symbol,date\nOLDA,AAA,2024-01-02\nOLDA,AAA,2024-01-02\n")
    load(db, folder)
    first = snapshot(db)
    assert len(first["rejects"]) == 2  # the bad symbol and the repeated change
    load(db, folder)
    assert snapshot(db) == first


# ---------------------------------------------------------------------------------------------------------
# Bad rows: refused at the door with a reason, nothing dropped
# ---------------------------------------------------------------------------------------------------------


def test_bad_rows_of_every_membership_file_are_refused_with_reasons(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    membership = [
        "symbol,date_added,date_removed",
        "AAA,2024-01-02,",  # line 2: good, still a member
        "B?B,2024-01-02,",  # 3
        "BBB,03/01/2024,",  # 4: dd/mm is not guessed
        "BBB,2024-01-02,soon",  # 5
        "CCC,2024-01-05,2024-01-02",  # 6: removed before it was added
        "AAA,2024-01-02,2024-02-01",  # 7: the same (symbol, date_added) again
        ",2024-01-02,",  # 8
        "DDD,,",  # 9
        "EEE,2024-13-45,",  # 10: not a calendar date
        "BBB,2023-01-02,2024-01-02",  # 11: good
    ]
    (folder / "sp500_membership.csv").write_text("\n".join(membership) + "\n")
    changes = [
        "old_symbol,new_symbol,date",
        "OLDA,AAA,2024-01-02",  # 2: good
        "OLDX,NEWX,2010-01-04",  # 3: pitindex already says so
        "BBB,bbb,2024-01-02",  # 4: the same ticker
        "OLDB,B/B,2024-01-02",  # 5
        "OLDC,CCC,20240102",  # 6
    ]
    (folder / "ticker_changes_mine.csv").write_text("\n".join(changes) + "\n")

    # pitindex's files replaced by a folder of the same shape, with bad rows of its own.
    pit = tmp_path / "pitindex_data"
    pit.mkdir()
    (pit / "sp500_seed.csv").write_text(
        "effective_date,ticker\n2004-12-30,AAA\n2004-12-30,a b\n12/30/2004,BBB\n2004-12-30,AAA\n"
    )
    (pit / "sp500_changes.csv").write_text(
        "date,action,ticker,name,reason\n"
        "2010-01-04,joined,DDD,,x\n"  # 2: unknown action
        "2010-01-04,removed,OLDX,,rename → NEWX: renamed\n"  # 3: an event and a rename
        "2010-01-04,added,NEWX,,rename ← OLDX: renamed\n"  # 4
        "2011-01-03,removed,OLDY,,rename →\n"  # 5: the arrow names no ticker
    )
    report = FetchReport("sample")
    source = sample_source(
        folder=folder,
        windows_fn=lambda syms, anchor=None: {},
        report=report,
        pitindex=read_pitindex(pit, version="0.0.0"),
    )
    run_pipeline(source, credentials=db.with_password().url, dataset_name="raw_sample", pipeline_name="rt_test")

    refused = query(
        db,
        "select kind, source_ref, row_number, reason, detail from raw_sample.rejects order by 1, 2, 3",
    )
    assert refused == [
        (
            "membership_events",
            "pitindex:0.0.0:sp500_changes.csv",
            2,
            "invalid_action",
            "action 'joined' is not added or removed",
        ),
        (
            "membership_events",
            "pitindex:0.0.0:sp500_seed.csv",
            3,
            "invalid_symbol",
            "the symbol has characters no ticker uses (' ')",
        ),
        (
            "membership_events",
            "pitindex:0.0.0:sp500_seed.csv",
            4,
            "invalid_date",
            "'12/30/2004' is not a date YYYY-MM-DD",
        ),
        (
            "membership_events",
            "pitindex:0.0.0:sp500_seed.csv",
            5,
            "duplicate_key",
            "AAA added on 2004-12-30 is already given (pitindex:0.0.0:sp500_seed.csv line 2); the first is kept",
        ),
        (
            "membership_intervals",
            "file:sp500_membership.csv",
            3,
            "invalid_symbol",
            "the symbol has characters no ticker uses ('?')",
        ),
        (
            "membership_intervals",
            "file:sp500_membership.csv",
            4,
            "invalid_date",
            "date_added: '03/01/2024' is not a date YYYY-MM-DD",
        ),
        (
            "membership_intervals",
            "file:sp500_membership.csv",
            5,
            "invalid_date",
            "date_removed: 'soon' is not a date YYYY-MM-DD",
        ),
        (
            "membership_intervals",
            "file:sp500_membership.csv",
            6,
            "invalid_interval",
            "date_removed 2024-01-02 is not after date_added 2024-01-05 (a member from date_added until the day "
            "before date_removed)",
        ),
        (
            "membership_intervals",
            "file:sp500_membership.csv",
            7,
            "duplicate_key",
            "AAA added on 2024-01-02 is already given (sp500_membership.csv line 2); the first is kept",
        ),
        ("membership_intervals", "file:sp500_membership.csv", 8, "missing_symbol", "no symbol"),
        ("membership_intervals", "file:sp500_membership.csv", 9, "missing_date", "date_added: no date"),
        (
            "membership_intervals",
            "file:sp500_membership.csv",
            10,
            "invalid_date",
            "date_added: '2024-13-45' is not a calendar date",
        ),
        (
            "ticker_changes",
            "file:ticker_changes_mine.csv",
            3,
            "duplicate_key",
            "OLDX -> NEWX is already given (pitindex:0.0.0:sp500_changes.csv line 3); the first is kept",
        ),
        (
            "ticker_changes",
            "file:ticker_changes_mine.csv",
            4,
            "invalid_ticker_change",
            "old_symbol and new_symbol are both BBB",
        ),
        (
            "ticker_changes",
            "file:ticker_changes_mine.csv",
            5,
            "invalid_symbol",
            "new_symbol: the symbol has characters no ticker uses ('/')",
        ),
        ("ticker_changes", "file:ticker_changes_mine.csv", 6, "invalid_date", "'20240102' is not a date YYYY-MM-DD"),
        ("ticker_changes", "pitindex:0.0.0:sp500_changes.csv", 5, "missing_symbol", "new_symbol: no symbol"),
    ]
    # ... and everything else was stored: rows sent = rows stored + rows refused, per table.
    stored = snapshot(db)
    assert [r[:3] for r in stored["membership_events"]] == sorted(
        [
            ("AAA", pd.Timestamp("2004-12-30").date(), "added"),
            ("NEWX", pd.Timestamp("2010-01-04").date(), "added"),
            ("OLDX", pd.Timestamp("2010-01-04").date(), "removed"),
            ("OLDY", pd.Timestamp("2011-01-03").date(), "removed"),
        ]
    )
    assert {r[3] for r in stored["membership_events"]} == {"pitindex:0.0.0"}
    assert [r[:3] for r in stored["membership_intervals"]] == [
        ("AAA", pd.Timestamp("2024-01-02").date(), None),
        ("BBB", pd.Timestamp("2023-01-02").date(), pd.Timestamp("2024-01-02").date()),
    ]
    assert [(r[0], r[1], r[3]) for r in stored["ticker_changes"]] == [
        ("OLDA", "AAA", "file:ticker_changes_mine.csv"),
        ("OLDX", "NEWX", "pitindex:0.0.0"),
    ]
    assert report.reject_line("raw_sample").startswith("rejected 17 row(s) at the door")
    # dbt's staging of the rejects knows the new kinds (its tests pass).
    result = run_dbt(["build", "--select", "stg_sample__rejects"], db, capture=True)
    assert result.returncode == 0, result.stdout[-3000:]

    # The installed pitindex replaces the stand-in: its rejects go with it, the user's stay until fixed.
    load(db, folder)
    kinds = query(db, "select distinct split_part(source_ref, ':', 1) from raw_sample.rejects")
    assert kinds == [("file",)]


def run_cli(url: DbUrl, folder: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, RT_DB_URL=url.url, RT_SAMPLE_DIR=str(folder), RT_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run(
        [sys.executable, "-m", "rapidtrader.jobs.eod_ingest", "--source", "sample"],
        cwd=PROJECT_ROOT,
        env={**env, "RT_PROGRESS": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_names_a_refused_membership_row_and_a_missing_column_in_one_line(db, tmp_path):
    folder = write_folder(tmp_path / "f")
    (folder / "ticker_changes_mine.csv").write_text("old_symbol,new_symbol,date\nOLDA,AAA,28/02/2018\n")
    out = run_cli(db, folder, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    [line] = [x for x in out.stdout.splitlines() if x.startswith("rejected")]
    assert line == (
        "rejected 1 row(s) at the door (invalid_date 1), kept in raw_sample.rejects; "
        "first: ticker_changes_mine.csv line 2: '28/02/2018' is not a date YYYY-MM-DD (invalid_date)"
    )

    (folder / "sp500_membership.csv").write_text("symbol,date_added\nAAA,2024-01-02\n")
    out = run_cli(db, folder, tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stdout + out.stderr
    errors = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert errors == [
        "error: sp500_membership.csv: no `date_removed` column (found: symbol, date_added); membership files "
        "need symbol, date_added, date_removed"
    ]
