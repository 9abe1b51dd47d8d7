"""Which Postgres the benchmarks run on: RT_BENCH_DB_URL, else the project's embedded server (the
default a user gets), so figures are comparable from machine to machine."""

from __future__ import annotations

import os

from rapidtrader.db import DbUrl, resolve_db_url
from rapidtrader.settings import Settings


def bench_server() -> DbUrl:
    """Maintenance-database URL of the benchmark server; scratch databases are made beside it."""
    explicit = os.environ.get("RT_BENCH_DB_URL")
    if explicit:
        return DbUrl(explicit).with_password().with_dbname("postgres")
    return resolve_db_url(Settings(db_url=None)).with_dbname("postgres")
