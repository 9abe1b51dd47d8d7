"""Shared fixtures: a real Postgres for every test that needs one.

RT_TEST_DB_URL (any database on the server; tests make their own throwaway databases next to it) or,
when unset, the project's embedded Postgres. No mocks: dlt and dbt run against the real server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from rapidtrader.db import DbUrl, create_scratch_database, drop_database, resolve_db_url
from rapidtrader.settings import Settings

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RT_PROGRESS", "0")


def _server_url() -> DbUrl:
    explicit = os.environ.get("RT_TEST_DB_URL")
    if explicit:
        return DbUrl(explicit).with_password()
    # The embedded server; RT_DB_URL is ignored on purpose so tests never touch a real warehouse.
    return resolve_db_url(Settings(db_url=None)).with_dbname("postgres")


@pytest.fixture(scope="session")
def pg_server() -> DbUrl:
    """URL of the test server's maintenance database (scratch databases are created beside it)."""
    return _server_url()


@pytest.fixture(scope="session")
def scratch_db(pg_server: DbUrl) -> Iterator[Callable[[str], DbUrl]]:
    """Factory: scratch_db('prefix') -> URL of a new empty database, dropped at the end of the session."""
    made: list[str] = []

    def make(prefix: str) -> DbUrl:
        name = f"rt_test_{prefix}_{uuid.uuid4().hex[:8]}"
        made.append(name)
        return create_scratch_database(pg_server, name)

    yield make
    if os.environ.get("RT_KEEP_TEST_DBS") != "1":
        for name in made:
            drop_database(pg_server, name)


@pytest.fixture(scope="session", autouse=True)
def _isolated_dbt_target(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dbt writes compiled SQL and partial-parse state to its target folder: keep the test session's
    apart from a developer's `target/` (and from other sessions running at the same time)."""
    os.environ.setdefault("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))
    os.environ.setdefault("DBT_LOG_PATH", str(tmp_path_factory.mktemp("dbt_logs")))


def query(url: DbUrl, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one query on `url` and return all rows."""
    from rapidtrader.db import connect

    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def execute(url: DbUrl, sql: str, params: tuple = ()) -> None:
    """Run one statement on `url` and commit it (what another tool, a user or an older version did)."""
    from rapidtrader.db import connect

    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


@pytest.fixture()
def ingest_db(scratch_db) -> str:
    """A throwaway database for one ingestion test, as the password-bearing URL dlt needs."""
    return scratch_db("ingest").with_password().url


def count_rows(url: DbUrl | str, table: str) -> int:
    """Rows in a test-owned table."""
    return int(query(DbUrl(url) if isinstance(url, str) else url, f"select count(*) from {table}")[0][0])  # noqa: S608
