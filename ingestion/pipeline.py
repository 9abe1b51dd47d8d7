"""Load one source into its raw schema (a library: the command line is `python -m rapidtrader.jobs.eod_ingest`).

    result = ingest("sample", credentials=url, config=IngestConfig(sample_dir=Path("my_bars")))

Settings come in as an IngestConfig (rapidtrader builds it from its settings); nothing here reads the
environment. Load windows start from each symbol's last *clean* bar when the caller passes them
(`last_clean`), else from the newest raw bar that is not in the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from ingestion.common import (
    FetchReport,
    IngestionError,
    ensure_raw_indexes,
    exchange_today,
    last_completed_session,
    last_loaded_dates,
    plan_windows,
    run_pipeline,
)
from ingestion.config import FmpSettings, IngestConfig, YahooSettings

SOURCES = ("sample", "fmp", "yfinance")
__all__ = ["SOURCES", "FmpSettings", "IngestConfig", "IngestResult", "YahooSettings", "ingest", "summarize"]


@dataclass
class IngestResult:
    source: str
    rows: dict[str, int] = field(default_factory=dict)
    report: FetchReport | None = None

    @property
    def bar_rows(self) -> int:
        return int(self.rows.get("bars", 0))


def universe_symbols(credentials: str) -> list[str]:
    """The universe to fetch for yfinance: FMP's constituents when loaded, else the bundled list, else the
    symbols mart (a previous build)."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    try:
        with conn.cursor() as cur:
            for table in ("raw_fmp.constituents", "raw_sample.constituents", "marts.symbols"):
                cur.execute("select to_regclass(%s)", (table,))
                if cur.fetchone()[0] is None:
                    continue
                cur.execute(f"select distinct symbol from {table} order by 1")  # noqa: S608
                rows = [r[0] for r in cur.fetchall()]
                if rows:
                    return rows
    finally:
        conn.close()
    return []


def judge_coverage(
    report: FetchReport,
    last_clean: Mapping[str, dt.date],
    newest_possible: dt.date | None,
) -> None:
    """A symbol counts as loaded only when this run brought a bar newer than its last clean one, or when
    its last clean bar is already the newest the source can have (`newest_possible` for a vendor: the last
    completed session; the file source says per symbol in report.available). Anything else is a failure:
    a symbol that got no new bar is not covered."""
    for symbol in list(report.requested):
        if symbol in report.failures:
            continue
        newest = report.newest.get(symbol)
        last = last_clean.get(symbol)
        possible = report.available.get(symbol, newest_possible)
        if (
            newest is not None
            and (last is None or newest > last)
            or last is not None
            and possible is not None
            and last >= possible
        ):
            report.loaded_symbols.add(symbol)
        elif last is not None:
            expected = f" (the source has {possible})" if possible is not None else ""
            report.loaded_symbols.discard(symbol)
            report.fail(symbol, f"no new bar after {last}, its last clean bar{expected}")
        else:
            report.loaded_symbols.discard(symbol)
            report.fail(symbol, "no bars loaded in its window")


def ingest(
    source: str,
    *,
    credentials: str,
    config: IngestConfig | None = None,
    days: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    symbols: list[str] | None = None,
    last_clean: Mapping[str, dt.date] | None = None,
) -> IngestResult:
    """Load `source` into raw_<source>. Raises IngestionError (one line) on fatal problems.

    `last_clean`: the newest clean bar per symbol (rapidtrader reads it from the marts); load windows start
    there, so a quarantined row (a future date, say) never moves a window past real data."""
    cfg = config or IngestConfig()
    dataset = f"raw_{source}"
    report = FetchReport(source=source)
    today = exchange_today()
    if source == "sample":
        end_date = end or dt.date.max
        history_start = dt.date.min
        newest_possible = None
    else:
        end_date = min(end or dt.date.max, last_completed_session())
        history_start = cfg.history_start
        newest_possible = end_date
    last = dict(last_clean) if last_clean is not None else last_loaded_dates(credentials, dataset, min(end_date, today))

    def windows_fn(syms: list[str], anchor: dt.date | None = None):
        return plan_windows(
            syms,
            last,
            end=end_date,
            history_start=history_start,
            reread_days=cfg.reread_days,
            days=days,
            start=start,
            anchor=anchor,
        )

    secrets: tuple[str | None, ...] = ()
    if source == "sample":
        from ingestion.sample import sample_source

        # Tables whose re-read rows raw already holds are left out of the load (see ingestion/sample). Rows
        # an older version stored with a symbol no index can hold are moved to rejects first (run_pipeline
        # does it after a load): when any moved, raw has just changed, so every table is written as before
        # and dlt records the load the nightly's build follows.
        moved = ensure_raw_indexes(credentials, dataset)
        src = sample_source(
            folder=cfg.sample_dir,
            windows_fn=windows_fn,
            report=report,
            symbols=symbols,
            raw_credentials=None if moved else credentials,
            dataset_name=dataset,
        )
    elif source == "fmp":
        from ingestion.fmp import fmp_source

        secrets = (cfg.fmp_api_key,)
        src = fmp_source(
            symbols,
            windows_fn,
            report,
            api_key=cfg.fmp_api_key,
            base_url=cfg.fmp.base_url,
            settings=cfg.fmp,
        )
    elif source == "yfinance":
        from ingestion.yfinance import yfinance_source

        universe = symbols or universe_symbols(credentials)
        if not universe:
            raise IngestionError(
                "no universe to fetch: load the constituents first (`python scripts/seed_sp500.py`) or pass --symbols"
            )
        src = yfinance_source(universe, windows_fn, report, settings=cfg.yahoo)
    else:
        raise IngestionError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    # The vendor sources (fmp, yfinance) always have resources: their rows arrive from the network inside
    # dlt's extraction, so their re-read tail is written every night. Only the file source can find that
    # nothing changed; then dlt is not run at all (given no resources it would still record a load and
    # its pipeline state).
    rows = (
        run_pipeline(
            src,
            credentials=credentials,
            dataset_name=dataset,
            pipeline_name=f"rt_{source}",
            progress=cfg.progress,
            secrets=secrets,
        )
        if src.selected_resources
        else {}
    )
    for step in report.after_load:
        step()
    judge_coverage(report, last, newest_possible)
    return IngestResult(source=source, rows=rows, report=report)


def summarize(result: IngestResult, min_coverage: float) -> tuple[int, str]:
    """Exit code and a human summary; failures are listed at the end, as the runbook asks."""
    report = result.report
    dataset = f"raw_{result.source}"
    unchanged = report.unchanged if report is not None else []
    if not result.rows and unchanged:
        lines = [
            f"{result.source}: nothing changed in {dataset} "
            f"({len(unchanged)} tables re-read, all equal to what is stored; nothing written)"
        ]
    else:
        lines = [f"{result.source}: loaded {result.rows or {}}"]
        if unchanged:
            lines[0] += f"; unchanged, not written: {', '.join(unchanged)}"
    code = 0
    if report is not None:
        rejects = report.reject_line(dataset)
        if rejects:
            lines.append(rejects)
        lines += report.notes
        lines.append(
            f"coverage {report.coverage:.1%} of {len(set(report.requested))} symbols ({len(report.failures)} failed)"
        )
        for symbol, error in sorted(report.failures.items()):
            lines.append(f"  FAILED {symbol}: {error}")
        if report.coverage < min_coverage:
            lines.append(f"coverage below {min_coverage:.0%}: exiting non-zero (loaded rows are kept)")
            code = 1
    return code, "\n".join(lines)
