"""Settings read from RT_* environment variables.

One place names every setting so the jobs, scripts and tests agree on names and defaults. dbt reads the
same variables through `env_var()` in dbt_project.yml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rapidtrader import PROJECT_ROOT


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment; build a new one after changing os.environ."""

    db_url: str | None = field(default_factory=lambda: os.environ.get("RT_DB_URL") or None)
    data_source: str = field(
        default_factory=lambda: _env("RT_DATA_SOURCE", "fmp" if os.environ.get("RT_FMP_API_KEY") else "yfinance")
    )
    primary_source: str = field(default_factory=lambda: _env("RT_PRIMARY_SOURCE", "fmp"))
    fmp_api_key: str | None = field(default_factory=lambda: os.environ.get("RT_FMP_API_KEY") or None)
    sample_dir: Path = field(default_factory=lambda: Path(_env("RT_SAMPLE_DIR", str(PROJECT_ROOT / "data" / "sample"))))
    state_dir: Path = field(default_factory=lambda: Path(_env("RT_STATE_DIR", str(PROJECT_ROOT / ".rt"))))
    log_dir: Path = field(default_factory=lambda: Path(_env("RT_LOG_DIR", str(PROJECT_ROOT / "logs"))))
    embedded_port: int = field(default_factory=lambda: int(_env("RT_EMBEDDED_PORT", "54329")))
    embedded_db: str = field(default_factory=lambda: _env("RT_EMBEDDED_DB", "rapidtrader"))
    min_coverage: float = field(default_factory=lambda: float(_env("RT_MIN_COVERAGE", "0.95")))
    reread_days: int = field(default_factory=lambda: int(_env("RT_REREAD_DAYS", "5")))
    history_start: str = field(default_factory=lambda: _env("RT_HISTORY_START", "2015-01-01"))

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"


def get_settings() -> Settings:
    return Settings()
