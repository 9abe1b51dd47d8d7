"""The daily report: every section from the contract marts, "not available" when marts are missing, charts that
render in a real headless browser, and delivery by SMTP."""

from __future__ import annotations

import contextlib
import email
import re

import pytest

from rapidtrader.jobs import dbt_build, eod_report
from rapidtrader.jobs.runner import job_step
from tests.ops import browser, synthetic
from tests.ops.conftest import sql_rows


@pytest.fixture(scope="module")
def ledger_db(ops_db):
    url = ops_db("report")
    session = synthetic.build(url)
    with job_step(url, "eod_run", "rep-run-1") as whole:
        with job_step(url, "ingest_sample", "rep-run-1") as step:
            step.rows = 1234
        # The report reads dbt's coverage verdict, as after a nightly build. EEE has no bar on the session, so
        # the test fails (its error tier), which fails the dbt step as it would fail a nightly.
        with contextlib.suppress(dbt_build.DbtFailed):
            dbt_build.run(url, "rep-run-1", ["--select", "dq_symbol_coverage"])
        whole.details["note"] = "synthetic"
    return url, session


def test_report_has_every_section_from_the_marts(ledger_db, tmp_path, monkeypatch):
    url, session = ledger_db
    monkeypatch.setenv("RT_REPORT_DIR", str(tmp_path))
    assert eod_report.run(url, "rep-run-2", report_run_id="rep-run-1") == 0
    html = (tmp_path / f"eod_report_{session}.html").read_text()
    md = (tmp_path / f"eod_report_{session}.md").read_text()
    for title in (
        "Market gate",
        "Signals by strategy and direction",
        "Orders placed and blocked",
        "Fills and stops",
        "Positions",
        "Sector exposure against the cap",
        "Equity curve and drawdown",
        "Data quality",
        "Job timings",
        "Alerts",
    ):
        assert title in html and title in md
    assert "not available" not in md.split("## Market gate")[1].split("## Data quality")[0]
    assert "Gate OPEN" in md
    assert "sector_exposure_block" in md and "cash_block" in md  # blocked orders by reason
    assert "1 stop(s) hit" in md and "EEE" in md
    assert "OVER in Tech" in md  # 31% against the 30% cap
    assert "missing 1: EEE" in md  # EEE has no bar on the session: completeness
    assert "ingest_sample" in md  # job timings of the requested run
    # Self-contained: every image is a data: URI, nothing is fetched from anywhere.
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(srcs) >= 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    row = sql_rows(url, "select status, details->>'html' from job_log where run_id = 'rep-run-2'")
    assert row == [("success", str(tmp_path / f"eod_report_{session}.html"))]


def test_report_says_not_available_without_marts(ops_db, tmp_path, monkeypatch):
    url = ops_db("report_empty")
    monkeypatch.setenv("RT_REPORT_DIR", str(tmp_path))
    assert eod_report.run(url, "empty-run") == 0
    md = (tmp_path / "eod_report_no-session.md").read_text()
    assert "not available" in md
    sql_rows(url, "create table marts.bars_daily (symbol text, d date, close float8, adj_close float8)")
    sql_rows(url, "insert into marts.bars_daily values ('SPY', '2024-01-02', 1, 1)")
    assert eod_report.run(url, "empty-run-2") == 0
    md = (tmp_path / "eod_report_2024-01-02.md").read_text()
    for mart in ("market_state", "signals_daily", "orders_eod", "positions_daily", "portfolio_daily"):
        assert f"{mart} is not built yet" in md


def test_email_goes_through_smtp(ledger_db, smtp_server, tmp_path, monkeypatch):
    url, session = ledger_db
    monkeypatch.setenv("RT_REPORT_DIR", str(tmp_path))
    monkeypatch.setenv("RT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RT_SMTP_PORT", str(smtp_server.server_address[1]))
    monkeypatch.setenv("RT_SMTP_STARTTLS", "0")
    monkeypatch.setenv("RT_SMTP_FROM", "rt@example.test")
    monkeypatch.setenv("RT_SMTP_TO", "ops@example.test, pm@example.test")
    assert eod_report.run(url, "mail-run", email=True, report_run_id="rep-run-1") == 0
    assert len(smtp_server.messages) == 1
    sent = smtp_server.messages[0]
    assert len(sent["rcpt"]) == 2
    msg = email.message_from_bytes(sent["data"])
    assert msg["Subject"].startswith(f"RapidTrader EOD {session}")
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert "text/plain" in parts and "text/html" in parts
    assert "Market gate" in parts["text/plain"].get_payload(decode=True).decode()


def test_email_without_settings_says_what_to_set(ledger_db, tmp_path, monkeypatch, capsys):
    url, _ = ledger_db
    monkeypatch.setenv("RT_REPORT_DIR", str(tmp_path))
    monkeypatch.delenv("RT_SMTP_HOST", raising=False)
    assert eod_report.run(url, "mail-run-2", email=True) == 1
    assert "set RT_SMTP_HOST and RT_SMTP_TO" in capsys.readouterr().err


@pytest.mark.skipif(browser.CHROMIUM is None, reason=browser.SKIP_REASON)
def test_charts_render_in_headless_chromium(ledger_db, tmp_path, monkeypatch):
    url, session = ledger_db
    monkeypatch.setenv("RT_REPORT_DIR", str(tmp_path))
    assert eod_report.run(url, "browser-run", report_run_id="rep-run-1") == 0
    page = tmp_path / f"eod_report_{session}.html"
    images = browser.image_sizes(page, tmp_path)
    assert len(images) >= 4
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, alt
    shot = browser.screenshot(page, tmp_path / "report.png", tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000
