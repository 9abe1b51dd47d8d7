"""rapidtrader hands ingestion its settings (ingestion reads no environment): every ingestion setting in
rapidtrader.settings reaches the IngestConfig, and the sources use what they are given."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from ingestion.config import IngestConfig
from rapidtrader.jobs.eod_ingest import ingest_config
from rapidtrader.settings import SETTINGS, Settings

# Ingestion settings that are not part of the config a load receives (used by rapidtrader itself).
NOT_IN_CONFIG = {"RT_DATA_SOURCE", "RT_MIN_COVERAGE", "RT_YAHOO_BASE_URL"}


def _other_value(setting) -> str:
    if setting.kind == "bool":
        return "0" if setting.default else "1"
    if setting.kind in ("int", "float"):
        value = (setting.high if setting.high is not None and setting.high < 1e6 else 7) or 7
        return str(int(value) if setting.kind == "int" else float(value))
    if setting.kind == "date":
        return "2001-02-03"
    if setting.kind == "url":
        return "http://127.0.0.1:9/elsewhere"
    if setting.kind == "path":
        return "/tmp/elsewhere"
    return "other-value"


@pytest.mark.parametrize(
    "setting",
    [s for s in SETTINGS if s.group == "ingestion" and s.name not in NOT_IN_CONFIG],
    ids=lambda s: s.name,
)
def test_every_ingestion_setting_reaches_the_config(setting):
    base = ingest_config(Settings(environ={}))
    changed = ingest_config(Settings(environ={setting.name: _other_value(setting)}))
    assert changed != base, f"{setting.name} does not reach IngestConfig"


def test_config_values():
    config = ingest_config(
        Settings(
            environ={
                "RT_FMP_API_KEY": "k-123",
                "RT_FMP_BASE_URL": "http://127.0.0.1:9/stable/",
                "RT_FMP_MAX_ATTEMPTS": "2",
                "RT_YF_BATCH_SIZE": "9",
                "RT_HISTORY_START": "2010-01-04",
                "RT_SAMPLE_DIR": "/tmp/bars",
            }
        )
    )
    assert config.fmp_api_key == "k-123" and "k-123" not in repr(config)  # never printed with the config
    assert config.fmp.base_url == "http://127.0.0.1:9/stable" and config.fmp.max_attempts == 2
    assert config.yahoo.batch_size == 9
    assert config.history_start == dt.date(2010, 1, 4) and config.sample_dir == Path("/tmp/bars")
    assert dataclasses.replace(IngestConfig(), fmp_api_key=None) == IngestConfig()
