"""No secret reaches a sink: an FMP key quoted back by FMP's error answers must not end up in any table of the
warehouse, any log file, the alert webhook or the jobs' output; pg_dump and pg_restore never get the
database password on their command line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ops.conftest import REPO, child_env, python, sql_rows

pytestmark = pytest.mark.e2e

# Runs a job's main() after pointing the FMP dlt source at RT_FMP_BASE_URL. The shim is a no-op once
# ingestion passes RT_FMP_BASE_URL itself (a keyword given by the caller wins over the partial's).
JOB = """
import functools, os, runpy, sys
import ingestion.fmp
ingestion.fmp.fmp_source = functools.partial(ingestion.fmp.fmp_source, base_url=os.environ["RT_FMP_BASE_URL"])
sys.argv = sys.argv[1:]
if sys.argv[0].endswith(".py"):
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


class _Fmp(BaseHTTPRequestHandler):
    """FMP as it answers on a bad day: error pages that quote the request URL, API key included."""

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, body: str, ctype: str = "text/html") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - the alert webhook
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posted.append(body.decode())  # type: ignore[attr-defined]
        self._send(200, "{}", "application/json")

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        quoted = f"Error: GET {self.path} failed"
        if "sp500-constituent" in self.path:
            if self.server.listing_ok:  # type: ignore[attr-defined]
                listing = [{"symbol": "AAA", "name": "A Inc", "sector": "Technology"}]
                self._send(200, json.dumps(listing), "application/json")
            else:
                self._send(200, f"<html>{quoted}</html>")
        elif "splits" in self.path or "dividends" in self.path:
            self._send(200, "[]", "application/json")
        elif "historical-price" in self.path:
            self._send(200, f"<html>{quoted}</html>")  # not JSON: the client quotes the body
        else:  # test_apis' /quote
            self._send(401, f'{{"Error Message": "Invalid API KEY. {quoted}"}}', "application/json")


@pytest.fixture()
def fmp() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fmp)
    server.requests, server.posted, server.listing_ok = [], [], False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def _tables_holding(url, needle: str) -> list[str]:
    """Every table and column of every schema whose text holds `needle` (rows cast to text whole)."""
    tables = sql_rows(
        url,
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')",
    )
    assert len(tables) >= 8, tables  # ops.*, raw_fmp.* at least: the search looks where the runs wrote
    found = []
    for schema, table in tables:
        n = sql_rows(url, f'select count(*) from "{schema}"."{table}" as t where strpos(t::text, %s) > 0', (needle,))
        if n[0][0]:
            found.append(f"{schema}.{table} ({n[0][0]} rows)")
    return found


def _files_holding(folders: list[Path], needle: str) -> list[str]:
    hits = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and needle.encode() in path.read_bytes():
                hits.append(str(path))
    return hits


def test_an_fmp_key_quoted_in_error_answers_reaches_no_sink(ops_db, fmp, tmp_path):
    url = ops_db("secrets")
    key = "PLANTED" + uuid.uuid4().hex[:12].upper()
    logs, dbt_logs = tmp_path / "logs", tmp_path / "dbt-logs"
    env = child_env(
        url,
        RT_FMP_API_KEY=key,
        RT_FMP_BASE_URL=fmp.base,
        RT_DATA_SOURCE="fmp",
        RT_FMP_MAX_ATTEMPTS="1",
        RT_FMP_MAX_CALLS_PER_MIN="100000",
        RT_LOG_DIR=str(logs),
        RT_REPORT_DIR=str(tmp_path / "reports"),
        RT_ALERT_WEBHOOK_URL=fmp.base + "/hook",
        DBT_LOG_PATH=str(dbt_logs),
    )
    outputs = []

    def job(*args: str) -> int:
        done = subprocess.run(
            [python(), "-c", JOB, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        outputs.append(done.stdout + done.stderr)
        return done.returncode

    # 1. The nightly run: FMP answers the S&P 500 list with an error page quoting the URL; the run fails.
    assert job("rapidtrader.jobs.eod") == 1, outputs[-1][-3000:]
    # 2. The ingestion job: the list arrives, every symbol's prices come back as such an error page.
    fmp.listing_ok = True
    assert job("rapidtrader.jobs.eod_ingest", "--source", "fmp") in (1, 2), outputs[-1][-3000:]
    # 3. The provider check, verbose: FMP refuses the key with a body quoting the URL.
    assert job("scripts/test_apis.py", "--verbose") == 1

    # The key was really sent (so the answers did quote it) and every sink was really written.
    assert any(key in path for path in fmp.requests), "the FMP client never reached RT_FMP_BASE_URL"
    assert sql_rows(url, "select count(*) from job_log where status = 'failed' and error <> ''")[0][0] >= 1
    assert sql_rows(url, "select count(*) from ingest_failures")[0][0] >= 1
    assert sql_rows(url, "select count(*) from alerts where code = 'job_failed'")[0][0] >= 1
    assert fmp.posted and (logs / "error.log").exists()

    assert _tables_holding(url, key) == []
    assert _files_holding([logs, dbt_logs, tmp_path / "reports"], key) == []
    assert [o for o in outputs if key in o] == [], "a job printed the key (cron appends this to a log file)"
    assert [p for p in fmp.posted if key in p] == [], "the alert webhook received the key"


def test_pg_dump_and_pg_restore_get_no_password_on_their_command_line(warehouse, ops_server, tmp_path):
    """The argv of a process is public (`ps`); the password goes through PGPASSWORD instead."""
    sys.path.insert(0, str(REPO / "scripts"))
    from backup import find_tool, server_major  # noqa: PLC0415

    password = "pw-" + uuid.uuid4().hex[:10]  # the embedded server trusts local connections: any works
    with_password = warehouse.url.replace("postgres:postgres@", f"postgres:{password}@")
    assert password in with_password
    tools = {}
    major, _ = server_major(warehouse)
    for name in ("pg_dump", "pg_restore"):
        real, _ = find_tool(name, major)  # the tools the scripts would pick for this server
        spy = tmp_path / f"spy_{name}"
        spy.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$@" > "{tmp_path}/{name}.argv"\n'
            f'printf "%s" "$PGPASSWORD" > "{tmp_path}/{name}.pgpassword"\n'
            f'exec "{real}" "$@"\n'
        )
        spy.chmod(0o755)
        tools[name] = str(spy)
    env = child_env(warehouse, RT_DB_URL=with_password, RT_BACKUP_DIR=str(tmp_path / "backups"))
    run = subprocess.run
    out = run(
        [python(), "scripts/backup.py", "--pg-dump", tools["pg_dump"]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    target = "rt_test_ops_pw_" + uuid.uuid4().hex[:8]
    try:
        out = run(
            [python(), "scripts/restore.py", "--latest", "--target-db", target, "--pg-restore", tools["pg_restore"]],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        from rapidtrader.db import drop_database  # noqa: PLC0415

        drop_database(ops_server, target)
    for name in ("pg_dump", "pg_restore"):
        argv = (tmp_path / f"{name}.argv").read_text()
        assert warehouse.dbname in argv or target in argv, argv  # it was the real call
        assert password not in argv, f"{name} got the password on its command line: {argv}"
        assert (tmp_path / f"{name}.pgpassword").read_text() == password
