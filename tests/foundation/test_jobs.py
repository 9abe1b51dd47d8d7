"""Job bookkeeping: each step writes a job_log row; failures are recorded with their error."""

from __future__ import annotations

import pytest

from ingestion.common import IngestionError
from rapidtrader.db import DbUrl
from rapidtrader.jobs import dbt_build, eod_ingest
from tests.conftest import query

pytestmark = [pytest.mark.e2e]

RUNTIME_QUERY = """
SELECT job_name, COUNT(*) AS runs, AVG(finished_at - started_at) AS avg_duration
FROM job_log WHERE started_at >= NOW() - INTERVAL '7 days' GROUP BY job_name ORDER BY job_name
"""


@pytest.fixture()
def db(scratch_db) -> DbUrl:
    return scratch_db("jobs")


def test_ingest_step_is_logged_with_rows(db, tmp_path, monkeypatch):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "bars.csv").write_text(
        "symbol,date,open,high,low,close,volume\nAAA,2024-01-02,10,11,9,10.5,100\nAAA,2024-01-03,10,11,9,10.5,100\n"
    )
    monkeypatch.setenv("RT_SAMPLE_DIR", str(folder))
    code = eod_ingest.run(db, "run1", source="sample")
    assert code == 0
    rows = query(db, "select job_name, status, rows, error, finished_at is not null from job_log")
    assert rows == [("ingest_sample", "success", 2, None, True)]
    assert [r[0] for r in query(db, RUNTIME_QUERY)] == ["ingest_sample"]


def test_failed_ingest_is_logged_with_error(db, tmp_path, monkeypatch):
    monkeypatch.setenv("RT_SAMPLE_DIR", str(tmp_path / "missing"))
    with pytest.raises(IngestionError):
        eod_ingest.run(db, "run2", source="sample")
    (status, error) = query(db, "select status, error from job_log where run_id = 'run2'")[0]
    assert status == "failed"
    assert "does not exist" in error and "RT_SAMPLE_DIR" in error


def test_failed_dbt_build_is_logged(db):
    with pytest.raises(dbt_build.DbtFailed):
        dbt_build.run(db, "run3", ["--threads", "not-a-number"])
    (job, status, error) = query(db, "select job_name, status, error from job_log where run_id = 'run3'")[0]
    assert (job, status) == ("dbt_build", "failed")
    assert "exited 2" in error


def test_error_inside_dlt_extract_surfaces_as_ingestion_error(db, tmp_path, monkeypatch):
    """dlt wraps exceptions raised while extracting; the job still reports our one-sentence error."""
    (tmp_path / "bars.csv").write_text("ticker,date,open,high,low,close,volume\nAAA,2024-01-02,1,1,1,1,1\n")
    monkeypatch.setenv("RT_SAMPLE_DIR", str(tmp_path))
    with pytest.raises(IngestionError, match="no `symbol` column"):
        eod_ingest.run(db, "run4", source="sample")
    assert query(db, "select status from job_log where run_id = 'run4'") == [("failed",)]
    # Nothing half-written: the failed load created no raw bars.
    assert query(db, "select to_regclass('raw_sample.bars')") == [(None,)]
