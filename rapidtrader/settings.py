"""Every RT_* setting, defined once: name, type, default, allowed range and meaning.

Python reads settings from here (`get_settings().pct_per_trade` for RT_PCT_PER_TRADE), dbt receives the
ones its models and tests read as vars from here (`dbt_vars()`, passed by rapidtrader.dbt_runner), and the
README's settings table is generated from here (`python -m rapidtrader.settings --markdown`; a test fails
when they differ). A bad value fails before anything runs, naming the variable and what it allows:

    RT_PCT_PER_TRADE=-1: out of range; allowed: a number in (0, 1]

An empty variable counts as unset (its default applies).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidtrader import PROJECT_ROOT

# What a ticker may look like, here and in every source (one rule; the ingestion package has its copy of
# the same pattern in ingestion/symbols.py and a test keeps them equal).
TICKER_PATTERN = r"[A-Z0-9][A-Z0-9.\-^=]{0,14}"

# The SMA windows the indicators hold (indicators_daily.sma_<n>); strategy and filter windows must be one.
SMA_WINDOWS = (20, 50, 100, 200)


class SettingsError(ValueError):
    """A setting has a value outside what it allows; the message names it and the allowed values."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # int, float, bool, str, choice, date, ticker, path, url, secret
    default: Any  # None: unset is allowed and means "not configured"
    meaning: str
    group: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the range excludes `low`
    choices: tuple = ()
    dbt: bool = False  # passed to dbt as var rt_<name lower>
    shown_default: str | None = None  # how the README shows a computed default

    @property
    def attr(self) -> str:
        return self.name.removeprefix("RT_").lower()

    @property
    def var(self) -> str:
        return self.name.lower()

    def allowed(self) -> str:
        if self.kind == "bool":
            return "0 or 1"
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.kind in ("int", "float"):
            noun = "a whole number" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                return f"{noun} in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}]"
            if self.low is not None:
                return f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
            return noun
        if self.kind == "date":
            return "a date YYYY-MM-DD"
        if self.kind == "ticker":
            return "a ticker: capital letters, digits, '.', '-', '^', '=' (at most 15)"
        if self.kind == "url":
            return "a URL"
        return "any text"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _s(name, kind, default, meaning, group, **kw) -> Setting:
    return Setting(name, kind, default, meaning, group, **kw)


SOURCES = ("sample", "fmp", "yfinance")

# fmt: off
SETTINGS: tuple[Setting, ...] = (
    # database and files
    _s("RT_DB_URL", "secret", None, "Postgres connection for everything (unset: the embedded server)", "database and files", shown_default="(embedded)"),
    _s("RT_EMBEDDED_PORT", "int", 54329, "port of the embedded Postgres", "database and files", low=1024, high=65535),
    _s("RT_EMBEDDED_DB", "str", "rapidtrader", "database name on the embedded Postgres", "database and files"),
    _s("RT_DBT_THREADS", "int", 4, "dbt threads", "database and files", low=1, high=64),
    _s("RT_WORK_MEM_MB", "int", 64, "memory of each sort or hash in dbt's sessions and the embedded server, MB (work_mem)", "database and files", low=4, high=4096),
    _s("RT_STATE_DIR", "path", ".rt", "embedded database, dbt profile and logs of dbt", "database and files"),
    _s("RT_LOG_DIR", "path", "logs", "log folder", "database and files"),
    _s("RT_REPORT_DIR", "path", "reports", "folder of the daily report", "database and files"),
    _s("RT_BACKUP_DIR", "path", "backups", "folder of backups", "database and files"),
    # ingestion
    _s("RT_DATA_SOURCE", "choice", None, "source of `make eod`", "ingestion", choices=SOURCES, shown_default="`yfinance` (`fmp` with a key)"),
    _s("RT_FMP_API_KEY", "secret", None, "Financial Modeling Prep key", "ingestion"),
    _s("RT_SAMPLE_DIR", "path", "data/sample", "folder of the file source", "ingestion"),
    _s("RT_MIN_COVERAGE", "float", 0.95, "ingestion exits non-zero below this share of the universe", "ingestion", low=0, high=1),
    _s("RT_REREAD_DAYS", "int", 5, "calendar days re-read per symbol for vendor corrections", "ingestion", low=0, high=3650),
    _s("RT_HISTORY_START", "date", "2015-01-01", "first date fetched for a new symbol", "ingestion"),
    _s("RT_PROGRESS", "bool", 1, "dlt progress log lines", "ingestion"),
    _s("RT_FMP_BASE_URL", "url", "https://financialmodelingprep.com/stable", "FMP API base", "ingestion"),
    _s("RT_FMP_MAX_CALLS_PER_MIN", "float", 300, "FMP rate limit (calls per minute)", "ingestion", low=0, high=100000, low_open=True),
    _s("RT_FMP_TIMEOUT", "float", 30, "FMP request timeout, seconds", "ingestion", low=0, high=600, low_open=True),
    _s("RT_FMP_MAX_ATTEMPTS", "int", 5, "FMP attempts per request", "ingestion", low=1, high=50),
    _s("RT_FMP_BACKOFF", "float", 1.0, "FMP retry backoff factor, seconds", "ingestion", low=0, high=600),
    _s("RT_FMP_MAX_RETRY_DELAY", "float", 60, "longest FMP retry wait, seconds", "ingestion", low=0, high=3600),
    _s("RT_FMP_CHUNK_DAYS", "int", 1800, "days per FMP price request", "ingestion", low=1, high=36500),
    _s("RT_FMP_ADJUSTED", "bool", 1, "also fetch FMP's dividend-adjusted closes", "ingestion"),
    _s("RT_YAHOO_BASE_URL", "url", "https://query2.finance.yahoo.com", "Yahoo chart API base", "ingestion"),
    _s("RT_YF_BATCH_SIZE", "int", 50, "symbols per Yahoo request batch", "ingestion", low=1, high=1000),
    _s("RT_YF_SLEEP", "float", 1.0, "seconds between Yahoo batches", "ingestion", low=0, high=600),
    _s("RT_YF_MAX_ATTEMPTS", "int", 4, "Yahoo attempts per batch", "ingestion", low=1, high=50),
    _s("RT_YF_BACKOFF", "float", 15, "Yahoo rate-limit backoff, seconds (doubled per attempt)", "ingestion", low=0, high=3600),
    _s("RT_YF_THREADS", "int", 4, "Yahoo download threads", "ingestion", low=1, high=64),
    _s("RT_YF_TIMEOUT", "float", 20, "Yahoo request timeout, seconds", "ingestion", low=0, high=600, low_open=True),
    # clean bars
    _s("RT_PRIMARY_SOURCE", "choice", "fmp", "preferred source in `bars_daily`", "bars", choices=SOURCES, dbt=True),
    _s("RT_DISCREPANCY_PCT", "float", 0.005, "FMP vs Yahoo close difference that is flagged", "bars", low=0, high=1, low_open=True, dbt=True),
    _s("RT_SPIKE_PCT", "float", 0.25, "isolated bad print: jump from the previous close", "bars", low=0, high=10, low_open=True, dbt=True),
    _s("RT_SPIKE_REVERT_PCT", "float", 0.05, "isolated bad print: back within this of the previous close next day", "bars", low=0, high=1, low_open=True, dbt=True),
    _s("RT_FRESHNESS_WARN_HOURS", "int", 30, "source freshness warning after this many hours", "bars", low=1, high=100000, dbt=True),
    _s("RT_FRESHNESS_ERROR_HOURS", "int", 96, "source freshness error after this many hours", "bars", low=1, high=100000, dbt=True),
    # indicators and signals
    _s("RT_WARM_BARS", "int", 250, "bars of history before a row counts as warm (is_warm)", "signals", low=0, high=100000, dbt=True),
    _s("RT_INDICATOR_RECHECK_DAYS", "int", 30, "calendar days of stored indicators re-compared each night", "signals", low=1, high=36500, dbt=True),
    _s("RT_RSI_BUY", "float", 30, "RSI mean reversion: raw buy below this RSI14", "signals", low=0, high=100, low_open=True, dbt=True),
    _s("RT_RSI_SELL", "float", 55, "RSI mean reversion: sell at or above this RSI14", "signals", low=0, high=100, low_open=True, dbt=True),
    _s("RT_ENABLE_SIGNAL_CONFIRM", "bool", 1, "RSI buys need confirmation", "signals", dbt=True),
    _s("RT_CONFIRM_WINDOW", "int", 3, "confirmation: rows looked at", "signals", low=1, high=50, dbt=True),
    _s("RT_CONFIRM_MIN_COUNT", "int", 2, "confirmation: raw buys needed in the window", "signals", low=1, high=50, dbt=True),
    _s("RT_SMA_FAST", "choice", 20, "SMA crossover: fast window", "signals", choices=SMA_WINDOWS, dbt=True),
    _s("RT_SMA_SLOW", "choice", 100, "SMA crossover: slow window", "signals", choices=SMA_WINDOWS, dbt=True),
    _s("RT_SMA_CONFIRM_DAYS", "int", 2, "SMA crossover: rows the cross must hold", "signals", low=1, high=50, dbt=True),
    _s("RT_FLOAT_TOLERANCE", "float", 1e-9, "computed floats within this share of a threshold count as equal to it (ties decided as exact arithmetic would)", "signals", low=0, high=0.001, dbt=True),
    _s("RT_MARKET_FILTER_SYMBOL", "ticker", "SPY", "market filter symbol", "signals", dbt=True),
    _s("RT_MARKET_FILTER_SMA", "choice", 200, "market filter: SMA window of the filter symbol", "signals", choices=SMA_WINDOWS, dbt=True),
    _s("RT_MARKET_FILTER_ENABLE", "bool", 1, "market filter on (0: the gate is always open)", "signals", dbt=True),
    # ledger and risk
    _s("RT_START_CAPITAL", "float", 100000, "starting cash of the paper account and of a backtest", "ledger", low=0, high=1e12, low_open=True, dbt=True),
    _s("RT_LEDGER_START", "date", None, "first day of the paper account", "ledger", dbt=True, shown_default="(first day with bars)"),
    _s("RT_ATR_STOP_K", "float", 3.0, "stop distance in ATR14", "ledger", low=0, high=100, low_open=True, dbt=True),
    _s("RT_ENABLE_ATR_STOP", "bool", 1, "stops on/off", "ledger", dbt=True),
    _s("RT_COOLDOWN_DAYS_ON_STOP", "int", 1, "trading days a stopped symbol cannot be bought again", "ledger", low=0, high=1000, dbt=True),
    _s("RT_PCT_PER_TRADE", "float", 0.05, "position size cap as a share of equity", "ledger", low=0, high=1, low_open=True, dbt=True),
    _s("RT_DAILY_RISK_CAP", "float", 0.005, "risk per trade (stop distance x shares) as a share of equity", "ledger", low=0, high=1, low_open=True, dbt=True),
    _s("RT_MAX_EXPOSURE_PER_SECTOR", "float", 0.30, "sector cap as a share of equity", "ledger", low=0, high=1, low_open=True, dbt=True),
    _s("RT_UNIVERSE_MODE", "choice", "pit", "which index members may be bought: `pit` the members on that day, `current` the latest list on every day", "ledger", choices=("pit", "current"), dbt=True),
    _s("RT_SLIPPAGE_BPS", "float", 5, "slippage in basis points: buys fill at open x (1 + s), sells at open x (1 - s)", "ledger", low=0, high=1000, dbt=True),
    _s("RT_COMMISSION_MIN", "float", 1.0, "commission per fill at least this (dollars)", "ledger", low=0, high=10000, dbt=True),
    _s("RT_COMMISSION_PER_SHARE", "float", 0.005, "commission per share (dollars)", "ledger", low=0, high=100, dbt=True),
    _s("RT_COMMISSION_MAX_PCT", "float", 0.01, "commission at most this share of the fill's value (0: no commission)", "ledger", low=0, high=1, dbt=True),
    _s("RT_MAX_PARTICIPATION", "float", 0.025, "a buy fills at most this share of the day's volume (0: no cap)", "ledger", low=0, high=1, dbt=True),
    _s("RT_DELIST_SESSIONS", "int", 5, "a held symbol without a clean bar this many sessions in a row is sold (0: never)", "ledger", low=0, high=1000, dbt=True),
    _s("RT_BENCHMARK_SYMBOL", "ticker", "SPY", "buy-and-hold comparison of the backtest", "ledger", dbt=True),
    # dbt reads the backtest window from the environment, not as vars (macros/trading/backtest_window.sql):
    # a changed var makes dbt parse the whole project again, a changed environment variable only its readers
    _s("RT_BACKTEST_START", "date", None, "first day of a backtest (set by `make backtest`)", "ledger"),
    _s("RT_BACKTEST_END", "date", None, "last day of a backtest (set by `make backtest`)", "ledger"),
    # data-quality tiers (percent of the checked points; warn = runbook warning, error = critical)
    _s("RT_DQ_SESSION", "date", None, "session the data-quality tests check (set by validate_data.py --date)", "data quality", dbt=True, shown_default="(the latest session)"),
    _s("RT_TEST_FULL_HISTORY", "bool", 0, "batch-scoped tests check every row, not only what the last build wrote (`make test-dq-full`)", "data quality", dbt=True),
    _s("RT_DQ_WINDOW_SESSIONS", "int", 20, "data quality: sessions checked", "data quality", low=1, high=10000, dbt=True),
    _s("RT_DQ_COVERAGE_WARN_PCT", "float", 1, "coverage: % of symbols missing for a warning", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_COVERAGE_ERROR_PCT", "float", 5, "coverage: % missing for an error", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_MISSING_WARN_PCT", "float", 0.5, "missing bars: % for a warning", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_MISSING_ERROR_PCT", "float", 1, "missing bars: % for an error", "data quality", low=0, high=100, dbt=True ),
    _s("RT_DQ_PRICE_WARN_PCT", "float", 0.05, "price anomalies: % for a warning", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_PRICE_ERROR_PCT", "float", 0.1, "price anomalies: % for an error", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_VOLUME_WARN_PCT", "float", 0.25, "volume anomalies: % for a warning", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_VOLUME_ERROR_PCT", "float", 0.5, "volume anomalies: % for an error", "data quality", low=0, high=100, dbt=True),
    _s("RT_DQ_VOLUME_SPIKE_X", "float", 10, "volume anomaly: times the 20-bar average", "data quality", low=1, high=10000, dbt=True),
    _s("RT_DQ_MAX_DAILY_MOVE", "float", 0.4, "price anomaly: one-day close move", "data quality", low=0, high=10, low_open=True, dbt=True),
    _s("RT_DQ_RECENCY_WARN_SESSIONS", "int", 1, "sessions a symbol may lag for a warning", "data quality", low=0, high=10000, dbt=True),
    _s("RT_DQ_RECENCY_ERROR_SESSIONS", "int", 3, "sessions a symbol may lag for an error", "data quality", low=0, high=10000, dbt=True),
    # alerts and health
    _s("RT_ALERT_WEBHOOK_URL", "secret", None, "alerts are posted here (Slack/Mattermost-compatible JSON)", "alerts"),
    _s("RT_ALERT_WEBHOOK_TIMEOUT_S", "float", 5, "webhook timeout, seconds", "alerts", low=0, high=600, low_open=True),
    _s("RT_ALERT_RUNTIME_WARN_MIN", "float", 30, "run longer than this (minutes) warns", "alerts", low=0, high=10000),
    _s("RT_ALERT_RUNTIME_CRITICAL_MIN", "float", 45, "run longer than this (minutes) is critical", "alerts", low=0, high=10000),
    _s("RT_ALERT_MEMORY_MB", "float", 1536, "peak memory over this (MB) warns", "alerts", low=0, high=1e7),
    _s("RT_ALERT_API_LATENCY_S", "float", 10, "a provider call slower than this (s) warns", "alerts", low=0, high=3600),
    _s("RT_HEALTH_DISK_WARN", "float", 0.85, "disk use share that warns", "alerts", low=0, high=1),
    _s("RT_HEALTH_DISK_CRITICAL", "float", 0.95, "disk use share that is critical", "alerts", low=0, high=1),
    _s("RT_HEALTH_BACKUP_WARN_H", "float", 26, "newest backup older than this (hours) warns", "alerts", low=0, high=100000),
    _s("RT_HEALTH_BACKUP_CRITICAL_H", "float", 72, "newest backup older than this (hours) is critical", "alerts", low=0, high=100000),
    # operations
    _s("RT_LOG_RETENTION_DAYS", "int", 30, "rotated logs are deleted after this many days", "operations", low=1, high=36500),
    _s("RT_LOG_COMPRESS_DAYS", "int", 7, "rotated logs are gzipped after this many days", "operations", low=0, high=36500),
    _s("RT_BACKUP_KEEP", "int", 14, "backups kept", "operations", low=1, high=100000),
    _s("RT_REPORT_EMAIL", "bool", 0, "mail the daily report after every run", "operations"),
    _s("RT_SMTP_HOST", "str", None, "SMTP server of the report mail", "operations"),
    _s("RT_SMTP_PORT", "int", 587, "SMTP port (587 with STARTTLS, 25 without)", "operations", low=1, high=65535),
    _s("RT_SMTP_USER", "str", None, "SMTP login (none: no login)", "operations"),
    _s("RT_SMTP_PASSWORD", "secret", None, "SMTP password", "operations"),
    _s("RT_SMTP_FROM", "str", None, "sender address (default the user)", "operations"),
    _s("RT_SMTP_TO", "str", None, "recipients, comma-separated", "operations"),
    _s("RT_SMTP_STARTTLS", "bool", None, "STARTTLS (default 1 on port 587, else 0)", "operations"),
    _s("RT_SMTP_TIMEOUT_S", "float", 20, "SMTP timeout, seconds", "operations", low=0, high=600, low_open=True),
    _s("RT_RUN_ID", "str", None, "run id of a job (default a new random one)", "operations"),
    _s(
        "RT_LOCK_WAIT_S",
        "float",
        60,
        "a run waits this long (seconds) for another run on the same warehouse, then stops",
        "operations",
        low=0,
        high=86400,
    ),
    # development
    _s("RT_TEST_DB_URL", "secret", None, "server for the tests' throwaway databases (default embedded)", "development"),
    _s("RT_KEEP_TEST_DBS", "bool", 0, "keep the tests' databases for inspection", "development"),
    _s("RT_BENCH_DB_URL", "secret", None, "server of the benchmarks (default embedded)", "development"),
)
# fmt: on

# Not settings: variables the jobs derive from RT_DB_URL for the dbt profile (profiles.example.yml).
DERIVED = ("RT_DB_HOST", "RT_DB_PORT", "RT_DB_USER", "RT_DB_PASSWORD", "RT_DB_NAME")

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
BY_ATTR: dict[str, Setting] = {s.attr: s for s in SETTINGS}
_TICKER = re.compile(TICKER_PATTERN + r"\Z")


def parse(setting: Setting, text: str) -> Any:
    """The typed value of `text`, or SettingsError naming the setting and what it allows."""
    raw = text.strip()

    def bad(why: str) -> SettingsError:
        shown = raw if setting.kind != "secret" else "***"
        return SettingsError(f"{setting.name}={shown!r}: {why}; allowed: {setting.allowed()}")

    kind = setting.kind
    if kind == "bool":
        if raw not in ("0", "1"):
            raise bad("not 0 or 1")
        return raw == "1"
    if kind in ("int", "float") or (kind == "choice" and all(isinstance(c, int) for c in setting.choices)):
        try:
            value: float = int(raw) if kind != "float" else float(raw)
        except ValueError:
            raise bad("not a number") from None
        if kind == "float" and not math.isfinite(value):
            raise bad("not a finite number")
        if setting.choices:
            if value not in setting.choices:
                raise bad("not allowed")
            return value
        lo, hi = setting.low, setting.high
        if lo is not None and (value < lo or (setting.low_open and value == lo)):
            raise bad("out of range")
        if hi is not None and value > hi:
            raise bad("out of range")
        return value
    if kind == "choice":
        if raw not in setting.choices:
            raise bad("not allowed")
        return raw
    if kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise bad("not a date YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise bad("not a calendar date") from None
    if kind == "ticker":
        if not _TICKER.match(raw):
            raise bad("not a ticker")
        return raw
    if kind == "path":
        return Path(raw)
    if kind == "url":
        if not re.match(r"https?://[^\s'\"]+\Z", raw):
            raise bad("not an http(s) URL")
        return raw.rstrip("/")
    if "\x00" in raw:
        raise bad("contains a NUL byte")
    return raw


def _default(setting: Setting, environ: Mapping[str, str]) -> Any:
    if setting.name == "RT_DATA_SOURCE":
        return "fmp" if environ.get("RT_FMP_API_KEY") else "yfinance"
    if setting.kind == "path" and setting.default is not None:
        return PROJECT_ROOT / setting.default
    if setting.kind == "bool" and setting.default is not None:
        return bool(setting.default)
    return setting.default


class Settings:
    """A validated snapshot of the environment. `Settings(db_url=None)` overrides single values (tests)."""

    def __init__(self, environ: Mapping[str, str] | None = None, **overrides: Any) -> None:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        errors: list[str] = []
        for s in SETTINGS:
            text = env.get(s.name)
            if text is None or text.strip() == "":
                values[s.attr] = _default(s, env)
                continue
            try:
                values[s.attr] = parse(s, text)
            except SettingsError as exc:
                errors.append(str(exc))
        for key, value in overrides.items():
            if key not in BY_ATTR:
                raise TypeError(f"unknown setting {key!r}")
            if BY_ATTR[key].kind == "path" and value is not None:
                value = Path(value)
            values[key] = value
        if not errors:
            errors = _cross_checks(values)
        if errors:
            raise SettingsError("; ".join(errors))
        self._values = values

    def __getattr__(self, attr: str) -> Any:
        try:
            return self.__dict__["_values"][attr]
        except KeyError:
            raise AttributeError(f"no setting RT_{attr.upper()}") from None

    def get(self, name: str) -> Any:
        """By variable name: settings.get('RT_PCT_PER_TRADE')."""
        return self._values[BY_NAME[name].attr]

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"


def _cross_checks(values: dict[str, Any]) -> list[str]:
    errors = []
    if values["confirm_min_count"] > values["confirm_window"]:
        errors.append(
            f"RT_CONFIRM_MIN_COUNT={values['confirm_min_count']} is more than RT_CONFIRM_WINDOW="
            f"{values['confirm_window']}: no buy could ever be confirmed"
        )
    if values["sma_fast"] >= values["sma_slow"]:
        errors.append(f"RT_SMA_FAST={values['sma_fast']} must be below RT_SMA_SLOW={values['sma_slow']}")
    return errors


def get_settings() -> Settings:
    return Settings()


def dbt_value(setting: Setting, value: Any) -> Any:
    """A var as dbt receives it: numbers as numbers, flags as 0/1, unset as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def dbt_vars(settings: Settings | None = None) -> dict[str, Any]:
    """Every setting dbt reads, as `rt_<name>` vars, plus the SMA windows the indicators hold and the
    ledger run those settings make (rapidtrader.ledger_runs)."""
    from rapidtrader.ledger_runs import ledger_run

    s = settings or get_settings()
    out = {x.var: dbt_value(x, getattr(s, x.attr)) for x in SETTINGS if x.dbt}
    out["rt_sma_windows"] = ",".join(str(n) for n in SMA_WINDOWS)
    out["rt_ledger_run"] = json.dumps(ledger_run(out))
    out["rt_sweep_settings"] = json.dumps(sweep_columns())
    out["rt_sweep_id"] = ""  # no sweep: `rapidtrader.jobs.sweep` sets it for the build of its sweep
    return out


def sql_type(setting: Setting) -> str:
    """The Postgres type of a setting's value as dbt receives it (flags as 0/1)."""
    if setting.kind == "float":
        return "double precision"
    if setting.kind in ("int", "bool") or (
        setting.kind == "choice" and all(isinstance(c, int) for c in setting.choices)
    ):
        return "integer"
    return "text"


def sweep_columns() -> dict[str, str]:
    """The settings a parameter sweep may vary, var name -> Postgres type: the columns of sweep_runs."""
    from rapidtrader.ledger_runs import SWEEP_SETTINGS

    return {BY_NAME[name].var: sql_type(BY_NAME[name]) for name in SWEEP_SETTINGS}


def markdown_table() -> str:
    """The README's settings table."""
    lines = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    group = None
    for s in SETTINGS:
        if s.group != group:
            group = s.group
            lines.append(f"| **{group}** | | | |")
        if s.shown_default is not None:
            default = s.shown_default
        elif s.default is None:
            default = ""
        else:
            default = f"`{_num(s.default) if isinstance(s.default, float | int) else s.default}`"
        allowed = s.allowed() if s.kind not in ("str", "secret", "path") else ""
        lines.append(f"| `{s.name}` | {default} | {allowed} | {s.meaning} |")
    return "\n".join(lines)


README_BEGIN = "<!-- settings table: generated by `python -m rapidtrader.settings --write-readme` -->"
README_END = "<!-- end of settings table -->"


def readme_with_table(readme: str) -> str:
    """README text with the settings table between its markers replaced by the generated one."""
    head, rest = readme.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{markdown_table()}\n{README_END}{tail}"


def fail_fast(main: Callable[..., int]) -> Callable[..., int]:
    """Decorator for command-line entry points: a bad setting prints one line and exits 2."""

    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            get_settings()
        except SettingsError as exc:
            print(f"error: bad setting: {exc}", file=sys.stderr)
            return 2
        return main(*args, **kwargs)

    wrapper.__doc__ = main.__doc__
    wrapper.__name__ = main.__name__
    return wrapper


if __name__ == "__main__":
    if "--markdown" in sys.argv:
        print(markdown_table())
    elif "--write-readme" in sys.argv:
        readme = PROJECT_ROOT / "README.md"
        readme.write_text(readme_with_table(readme.read_text()))
        print(f"settings table written into {readme}")
    else:
        try:
            get_settings()
        except SettingsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        print(f"{len(SETTINGS)} settings, all valid")
