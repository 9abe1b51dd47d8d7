"""Fixtures for the operations tests: throwaway databases, a small real warehouse, local HTTP and SMTP servers.

Databases: the root conftest's server (RT_TEST_DB_URL when set, else the embedded Postgres). Log, report and
backup folders are per-session temporary folders, so nothing here writes into the repository.
"""

from __future__ import annotations

import json
import os
import socketserver
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rapidtrader import logs
from rapidtrader.db import DbUrl, connect

REPO = Path(__file__).resolve().parents[2]
SMALL_UNIVERSE = ["AAPL", "MSFT", "JPM", "XOM", "SPY"]
# The bar marts only. Five symbols of a 505-member universe fail the coverage tier on purpose, so the
# data-quality tier tests (tests/dq) are left out; tests that read other models are skipped (cautious).
WAREHOUSE_SELECT = [
    "--select",
    "+bars_daily",
    "+symbols",
    "+bars_quarantine",
    "--indirect-selection",
    "cautious",
    "--exclude",
    "path:dbt_project/tests/dq",
]


@pytest.fixture(scope="session")
def ops_server(pg_server: DbUrl) -> DbUrl:
    """The test server (RT_TEST_DB_URL, else the embedded Postgres): the root conftest decides."""
    return pg_server


@pytest.fixture(scope="session")
def ops_db(scratch_db) -> Callable[[str], DbUrl]:
    """Factory of throwaway databases, dropped at the end of the session."""
    return lambda prefix: scratch_db(f"ops_{prefix}")


@pytest.fixture(scope="session", autouse=True)
def _ops_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("RT_LOG_DIR", "RT_REPORT_DIR", "RT_BACKUP_DIR", "RT_ALERT_WEBHOOK_URL")}
    os.environ["RT_LOG_DIR"] = str(tmp_path_factory.mktemp("logs"))
    os.environ["RT_REPORT_DIR"] = str(tmp_path_factory.mktemp("reports"))
    os.environ["RT_BACKUP_DIR"] = str(tmp_path_factory.mktemp("backups"))
    os.environ.pop("RT_ALERT_WEBHOOK_URL", None)
    logs.setup_logging(force=True)
    yield
    logs.reset_logging()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sql_rows(url: DbUrl, sql: str, params: tuple = ()) -> list[tuple]:
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def mart_counts(url: DbUrl) -> dict[str, int]:
    tables = sql_rows(
        url,
        "select table_name from information_schema.tables where table_schema = 'marts'",  # views too: bars_daily is one
    )
    return {t: sql_rows(url, f'select count(*) from marts."{t}"')[0][0] for (t,) in tables}


def child_env(url: DbUrl, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["RT_DB_URL"] = url.url
    env.update(extra)
    return env


def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def warehouse(ops_db) -> DbUrl:
    """A real, small warehouse: the bundled sample for five symbols through dlt, then the bar marts by dbt."""
    from rapidtrader.jobs import dbt_build, eod_ingest

    url = ops_db("wh")
    run_id = "wh-" + uuid.uuid4().hex[:6]
    assert eod_ingest.run(url, run_id, source="sample", symbols=SMALL_UNIVERSE) in (0, 1)
    dbt_build.run(url, run_id, WAREHOUSE_SELECT)
    return url


# ---------------------------------------------------------------------------------------------------
# Local HTTP server: webhook receiver and provider stub.


class _Handler(BaseHTTPRequestHandler):
    server_version = "rt-stub/1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _mode(self) -> str:
        return self.path.strip("/").split("/")[0].split("?")[0]

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append({"path": self.path, "json": json.loads(body or b"null")})  # type: ignore[attr-defined]
        self._send(200 if self._mode() != "fail" else 500, b'{"ok": true}')

    def do_GET(self) -> None:  # noqa: N802
        self.server.received.append({"path": self.path})  # type: ignore[attr-defined]
        mode = self._mode()
        if mode == "200":
            if "/chart/" in self.path:
                body = json.dumps({"chart": {"result": [{"timestamp": [1, 2], "indicators": {}}]}}).encode()
            else:
                body = json.dumps([{"symbol": "SPY", "price": 500.0}]).encode()
            self._send(200, body)
        elif mode == "garbage":
            self._send(200, b"<html>we are down for maintenance</html>", "text/html")
        elif mode in ("401", "403", "429", "500", "503"):
            self._send(int(mode), b'{"Error Message": "nope"}', extra={"Retry-After": "60"} if mode == "429" else None)
        else:
            self._send(404, b"{}")

    def _send(self, code: int, body: bytes, ctype: str = "application/json", extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def http_stub() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------------
# Local SMTP server (stdlib only; smtpd left the stdlib in 3.12): EHLO, MAIL, RCPT, DATA, QUIT.


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._reply("220 rt-test-smtp ready")
        mail: dict = {"rcpt": []}
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            cmd = raw.decode(errors="replace").strip()
            upper = cmd.upper()
            if upper.startswith(("EHLO", "HELO")):
                self._reply("250-rt-test-smtp")
                self._reply("250 SIZE 10000000")
            elif upper.startswith("MAIL FROM"):
                mail = {"from": cmd[10:].strip(), "rcpt": []}
                self._reply("250 OK")
            elif upper.startswith("RCPT TO"):
                mail["rcpt"].append(cmd[8:].strip())
                self._reply("250 OK")
            elif upper == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    line = self.rfile.readline()
                    if line in (b".\r\n", b".\n", b""):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                mail["data"] = b"".join(lines)
                self.server.messages.append(mail)  # type: ignore[attr-defined]
                self._reply("250 OK queued")
            elif upper == "QUIT":
                self._reply("221 bye")
                return
            elif upper in ("RSET", "NOOP"):
                self._reply("250 OK")
            else:
                self._reply("502 not implemented")


@pytest.fixture()
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
