"""What a load is told: plain values in, no environment read here (rapidtrader builds these from its
RT_* settings; tests build them directly)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FMP_BASE_URL = "https://financialmodelingprep.com/stable"


@dataclass(frozen=True)
class FmpSettings:
    """Knobs for the FMP client (defaults suit the Starter plan). The API key is passed on its own, never
    kept in a settings object that could end up printed."""

    base_url: str = DEFAULT_FMP_BASE_URL
    max_calls_per_min: float = 300
    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_retry_delay_s: float = 60.0
    # Long backfills are cut into pieces so no single request asks for more history than FMP serves at once.
    chunk_days: int = 1800
    # The dividend-adjusted endpoint fills adj_close; it costs one extra call per symbol.
    fetch_adjusted: bool = True


@dataclass(frozen=True)
class YahooSettings:
    """Knobs for Yahoo. Yahoo has no published limit; these defaults stay well under what gets an IP
    blocked."""

    batch_size: int = 50
    sleep_s: float = 1.0
    max_attempts: int = 4
    backoff_s: float = 15.0
    threads: int = 4
    timeout_s: float = 20.0


@dataclass(frozen=True)
class IngestConfig:
    """Everything a load needs to know besides the database and the window flags."""

    sample_dir: Path = Path("data/sample")
    history_start: dt.date = dt.date(2015, 1, 1)
    reread_days: int = 5
    progress: bool = False
    fmp_api_key: str | None = field(default=None, repr=False)
    fmp: FmpSettings = field(default_factory=FmpSettings)
    yahoo: YahooSettings = field(default_factory=YahooSettings)
