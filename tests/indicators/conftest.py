"""Fixtures for the indicator, signal and market-filter tests: a throwaway database with the bundled
sample loaded through dlt and the indicator models built by dbt (full refresh).

RT_TEST_DB_URL names the server (default postgresql://postgres:postgres@127.0.0.1:5432/postgres); the
database rt_test_ind_<random> is created there and dropped at the end (RT_KEEP_TEST_DBS=1 keeps it).
Self-contained on purpose: it does not rely on tests/conftest.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from rapidtrader.db import DbUrl, create_scratch_database, drop_database
from rapidtrader.dbt_runner import run_dbt

DEFAULT_SERVER = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
# The analytics models and what they read.
INDICATOR_MODELS = [
    "+indicators_daily",
    "+signals_daily",
    "+market_state",
    "+symbols",
    "trading_calendar",
]
OWN_MODELS = ["indicators_daily", "signals_decided", "signals_daily", "market_state"]
# the scenario edits bars_daily in place: symbols (its bar counts feed the change detection) is rebuilt too
NIGHTLY_MODELS = ["symbols", *OWN_MODELS]


def server_url() -> DbUrl:
    return DbUrl(os.environ.get("RT_TEST_DB_URL") or DEFAULT_SERVER).with_password()


def query(url: DbUrl, text: str, params: tuple = ()) -> list[tuple]:
    """Run one statement; rows when it returns any."""
    conn = psycopg2.connect(url.url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def dbt(url: DbUrl, *args: str) -> str:
    """Run dbt on `url`; fail the test with dbt's output when it fails."""
    result = run_dbt(list(args), url, capture=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout


def clone_database(base: DbUrl, template: str, name: str) -> DbUrl:
    """A copy of a built database (create database ... template): seconds instead of a rebuild."""
    conn = psycopg2.connect(base.with_dbname("postgres").url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template)))
    conn.close()
    return base.with_dbname(name)


@pytest.fixture(scope="session")
def ind_server() -> DbUrl:
    return server_url()


@pytest.fixture(scope="session")
def indicators_db(ind_server: DbUrl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbUrl]:
    """The sample loaded and the analytics models built with a full refresh; dropped at the end."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target_ind")))
    os.environ.setdefault("DBT_LOG_PATH", str(tmp_path_factory.mktemp("dbt_logs_ind")))
    try:
        psycopg2.connect(ind_server.url).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no Postgres at {ind_server.host}:{ind_server.port} (set RT_TEST_DB_URL): {exc}")
    name = f"rt_test_ind_{uuid.uuid4().hex[:8]}"
    url = create_scratch_database(ind_server, name)
    try:
        from rapidtrader.jobs.eod_ingest import load
        from rapidtrader.settings import Settings

        sample = Path(__file__).resolve().parents[2] / "data" / "sample"
        load(url, "sample", Settings(db_url=url.url, sample_dir=sample))
        dbt(url, "build", "--select", *INDICATOR_MODELS, "--indirect-selection", "cautious")
        yield url
    finally:
        if os.environ.get("RT_KEEP_TEST_DBS") != "1":
            drop_database(ind_server, name)


REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
# StockCharts series loaded as extra symbols (see tests/fixtures/reference/README.md)
REFERENCE_SYMBOLS = {"CS_RSI": "cs-rsi.csv", "CS_ATR": "cs-atr.csv", "CS_BB": "cs-bbands.csv"}
DIVIDEND_SYMBOL, QUARANTINED_SYMBOL, LATE_SYMBOL = "AAPL", "MSFT", "XOM"
TABLES = {
    "indicators_daily": ["symbol", "d"],
    "signals_daily": ["d", "symbol", "strategy"],
    "market_state": ["d"],
}


def insert_reference_bars(url: DbUrl) -> None:
    """The ChartSchool series as bars of made-up symbols (adjusted = raw; open/high/low = close if absent)."""
    import pandas as pd

    for symbol, filename in REFERENCE_SYMBOLS.items():
        frame = pd.read_csv(REFERENCE / filename)
        frame["d"] = pd.to_datetime(frame["Date"], format="%d-%b-%y").dt.date
        close = frame["Close"].astype(float)
        high = frame["High"].astype(float) if "High" in frame else close
        low = frame["Low"].astype(float) if "Low" in frame else close
        for d, h, lo, c in zip(frame["d"], high, low, close, strict=True):
            query(
                url,
                """insert into marts.bars_daily
                   (symbol, d, source, open, high, low, close, volume, adj_factor, split_factor,
                    adj_open, adj_high, adj_low, adj_close, loaded_at)
                   values (%s, %s, 'reference', %s, %s, %s, %s, 1000, 1, 1, %s, %s, %s, %s, now())""",
                (symbol, d, c, h, lo, c, c, h, lo, c),
            )


def snapshot_columns(url: DbUrl, table: str) -> list[str]:
    rows = query(
        url,
        "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s "
        "and column_name != 'computed_at' order by ordinal_position",
        (table,),
    )
    return [r[0] for r in rows]


def night_modes(url: DbUrl) -> dict[str, str]:
    """What the last build did with each symbol of indicators_daily, read from the rows it wrote (computed_at
    of the last run): 'full' when it rewrote the symbol from its first bar, 'append' when it wrote only
    newer rows, 'none' when it wrote nothing for it."""
    rows = query(
        url,
        """
        with last_run as (select max(computed_at) as at from marts.indicators_daily)
        select
            symbol,
            case
                when bool_or(computed_at = last_run.at and bar_number = 1) then 'full'
                when bool_or(computed_at = last_run.at) then 'append'
                else 'none'
            end
        from marts.indicators_daily cross join last_run
        group by symbol
        """,
    )
    return dict(rows)


@pytest.fixture(scope="session")
def incremental_scenario(indicators_db: DbUrl, ind_server: DbUrl) -> Iterator[dict]:
    """Nightly runs over the sample's last 3 sessions, with a dividend re-adjusting one symbol's history,
    a symbol arriving late with its whole history and a bar quarantined after it was stored; then a full
    refresh of the same bars. The StockCharts series are loaded as extra symbols before the first build.
    Yields the database URL, what the incremental build of indicators_daily did with each symbol each
    night (see `night_modes`), and the incremental tables (scenario.inc_*)."""
    name = f"rt_test_ind_{uuid.uuid4().hex[:8]}"
    url = clone_database(ind_server, indicators_db.dbname, name)
    modes: dict[str, dict[str, str]] = {}
    try:
        # bars_daily is a view of the bar pipeline's table; the scenario edits the bars the indicators read
        # directly, so it holds them in a table of the same name (the builds below never select it)
        query(url, "create table marts.bars_daily_rows as select * from marts.bars_daily")
        query(url, "drop view marts.bars_daily cascade")
        query(url, "alter table marts.bars_daily_rows rename to bars_daily")
        days = [r[0] for r in query(url, "select distinct d from marts.bars_daily order by d desc limit 3")][::-1]
        d1, d2, d3 = days
        query(url, "create schema scenario")
        query(url, "create table scenario.bars_all as select * from marts.bars_daily")
        query(url, "delete from marts.bars_daily where d >= %s or symbol = %s", (d1, LATE_SYMBOL))
        insert_reference_bars(url)
        dbt(url, "run", "--full-refresh", "--select", *NIGHTLY_MODELS)

        def night(label: str) -> None:
            dbt(url, "run", "--select", *NIGHTLY_MODELS)
            modes[label] = night_modes(url)

        query(
            url,
            "insert into marts.bars_daily select * from scenario.bars_all where d = %s and symbol != %s",
            (d1, LATE_SYMBOL),
        )
        night("d1")

        query(
            url,
            "insert into marts.bars_daily select * from scenario.bars_all where "
            "(d = %s and symbol != %s) or (symbol = %s and d <= %s)",
            (d2, LATE_SYMBOL, LATE_SYMBOL, d2),
        )
        query(
            url,
            "update marts.bars_daily set adj_factor = adj_factor * 0.98, adj_open = adj_open * 0.98, "
            "adj_high = adj_high * 0.98, adj_low = adj_low * 0.98, adj_close = adj_close * 0.98 "
            "where symbol = %s and d < %s",
            (DIVIDEND_SYMBOL, d2),
        )
        night("d2")

        query(url, "insert into marts.bars_daily select * from scenario.bars_all where d = %s", (d3,))
        query(url, "delete from marts.bars_daily where symbol = %s and d = %s", (QUARANTINED_SYMBOL, d2))
        night("d3")

        for table in TABLES:
            query(url, f"create table scenario.inc_{table} as select * from marts.{table}")  # noqa: S608
        dbt(url, "run", "--full-refresh", "--select", *NIGHTLY_MODELS)
        yield {"url": url, "modes": modes, "days": days}
    finally:
        if os.environ.get("RT_KEEP_TEST_DBS") != "1":
            drop_database(ind_server, name)
