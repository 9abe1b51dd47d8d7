"""Helpers for the foundation tests: load a folder of bar files through dlt and build the bar marts."""

from __future__ import annotations

from pathlib import Path

from ingestion.pipeline import IngestResult
from rapidtrader.db import DbUrl
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import eod_ingest
from rapidtrader.settings import Settings

FOUNDATION_MODELS = ["+bars_daily", "+bars_quarantine", "+symbols", "+bar_source_discrepancies"]


def load_files(url: DbUrl, folder: Path, **window) -> IngestResult:
    """The nightly job's load (windows from the last clean bars), without its job bookkeeping."""
    settings = Settings(db_url=url.url, sample_dir=folder)
    return eod_ingest.load(url, "sample", settings, **window)


def build_foundation(url: DbUrl) -> None:
    # cautious: skip tests that also read models outside this selection (indicators, calendar, ...);
    # the data-quality tier tests (coverage, recency) judge a whole universe, not these crafted files.
    args = ["build", "--select", *FOUNDATION_MODELS, "--indirect-selection", "cautious"]
    result = run_dbt([*args, "--exclude", "path:dbt_project/tests/dq"], url, capture=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
