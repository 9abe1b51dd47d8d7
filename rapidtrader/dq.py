"""Data quality as dbt decides it: the verdicts of the tests in dbt_project/tests/dq and the rows they store.

Those tests are the only definition of every data-quality rule (coverage of the session, missing bars,
price and volume anomalies, stale symbols, impossible indicator values) and of its warn/error tiers
(RT_DQ_* settings, handed to dbt as vars). Nothing here decides what passes: the alerts, the health check,
the daily report and scripts/validate_data.py read dbt's verdict (pass, warn, fail, error) and the failing
rows dbt stored, and only describe them.

Where they come from:
- the nightly build: verdicts in ops.dbt_results (copied from run_results.json by the dbt step), rows in
  schema `dq` (one table per test, replaced by each run of the test; every row carries `session_d`, the
  session checked, and the test's measure, e.g. `missing_pct`);
- a past session (`validate_data.py --date`): `run_for_session()` runs the same tests with the var
  rt_dq_session, which sends their rows to schema `dq_validate` so the nightly rows stay as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from psycopg2 import sql

from rapidtrader.db import DbUrl, connect
from rapidtrader.dbt_results import NodeResult, latest_tests, read_run_results, recorded_for_run

DQ_SCHEMA = "dq"
VALIDATE_SCHEMA = "dq_validate"


@dataclass(frozen=True)
class DqCheck:
    """Where one rule's verdict and rows are found, and what its measure means (the rule is in the test)."""

    key: str
    test: str
    measure: str | None
    meaning: str
    per_session: bool = True  # honours rt_dq_session (validate_data.py can ask it about a past session)


COVERAGE = DqCheck("coverage", "dq_symbol_coverage", "missing_pct", "% of active equities without a bar")
CHECKS = (
    COVERAGE,
    DqCheck("missing_ohlcv", "dq_missing_ohlcv", "missing_pct", "% of the window's expected bars missing"),
    DqCheck("price_anomalies", "dq_price_anomalies", "anomaly_pct", "% of the window's bars with odd prices"),
    DqCheck("volume_anomalies", "dq_volume_anomalies", "anomaly_pct", "% of the window's bars with odd volume"),
    DqCheck("symbol_recency", "dq_symbol_recency", "sessions_behind", " session(s) behind, the worst symbol"),
    DqCheck("indicator_errors", "dq_indicator_errors", None, "impossible indicator values", per_session=False),
)
BY_TEST = {c.test: c for c in CHECKS}
LEVELS = {"pass": "OK", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "runtime error": "ERROR"}


class DqRunFailed(RuntimeError):
    """dbt could not run the data-quality tests (no results written); the message says why."""


@dataclass
class DqResult:
    """One check's verdict (None: the test never ran here) and its stored failing rows."""

    check: DqCheck
    verdict: NodeResult | None
    rows: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str | None:
        return self.verdict.status if self.verdict else None

    @property
    def level(self) -> str:
        """OK / WARN / FAIL / ERROR as dbt's tiers decided, NOT RUN without a verdict."""
        return LEVELS.get(self.status or "", "NOT RUN") if self.verdict else "NOT RUN"

    @property
    def session(self) -> dt.date | None:
        return self.rows[0].get("session_d") if self.rows else None

    @property
    def measure(self) -> float | None:
        """The test's own measure (e.g. missing_pct), as stored with its rows; None when nothing failed."""
        if not self.check.measure or not self.rows:
            return None
        values = [r.get(self.check.measure) for r in self.rows if r.get(self.check.measure) is not None]
        return float(max(values)) if values else None

    @property
    def symbols(self) -> list[str]:
        return sorted({str(r["symbol"]) for r in self.rows if r.get("symbol") is not None})

    def summary(self) -> str:
        """`20.00% of active equities without a bar (dbt: fail, 1 stored row)`."""
        if self.verdict is None:
            return "not run on this database yet"
        text = f"dbt: {self.status}, {len(self.rows)} stored row(s)"
        if self.measure is not None:
            shown = f"{self.measure:.2f}" if self.check.measure.endswith("_pct") else f"{self.measure:g}"
            text = f"{shown}{self.check.meaning} ({text})"
        else:
            text = f"({text})"
        if self.status in ("error", "runtime error") and self.verdict.message:
            text += ": " + " ".join(self.verdict.message.split())[:300]
        return text


def stored_rows(cur, test: str, schema: str = DQ_SCHEMA, limit: int = 5000) -> list[dict]:
    """The failing rows dbt stored for `test` ([] when the test has never stored a table here)."""
    cur.execute("select to_regclass(%s) is not null", (f'"{schema}"."{test}"',))
    if not cur.fetchone()[0]:
        return []
    cur.execute(sql.SQL("select * from {}.{} limit %s").format(sql.Identifier(schema), sql.Identifier(test)), (limit,))
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _results(cur, verdicts: dict[str, NodeResult], schema: str, checks=CHECKS) -> list[DqResult]:
    return [
        DqResult(c, verdicts.get(c.test), stored_rows(cur, c.test, schema) if c.test in verdicts else [])
        for c in checks
    ]


def latest(cur) -> list[DqResult]:
    """Every check's newest recorded verdict (whichever run ran it) with the rows in schema dq."""
    return _results(cur, {v.name: v for v in latest_tests(cur, kind="dq")}, DQ_SCHEMA)


def for_run(cur, run_id: str) -> list[DqResult]:
    """The checks one run ran (a check the run did not run has no verdict), with the rows in schema dq."""
    verdicts = {v.name: v for v in recorded_for_run(cur, run_id) if v.kind == "dq" and v.resource_type == "test"}
    return _results(cur, verdicts, DQ_SCHEMA)


def find(results: list[DqResult], check: DqCheck) -> DqResult:
    return next(r for r in results if r.check == check)


def run_for_session(url: DbUrl, session: dt.date, checks: tuple[DqCheck, ...] | None = None) -> list[DqResult]:
    """Run the per-session checks for `session` now and read dbt's verdicts and rows (schema dq_validate).

    Holds the warehouse lock (a nightly build must not change the marts under the tests) and gives dbt a
    private target folder, so the project's run_results.json stays the nightly's.
    """
    from rapidtrader import run_lock
    from rapidtrader.dbt_runner import run_dbt

    checks = checks or tuple(c for c in CHECKS if c.per_session)
    variables = json.dumps({"rt_dq_session": session.isoformat()})
    with run_lock.hold(url, f"validate {session}"), tempfile.TemporaryDirectory(prefix="rt-dq-") as target:
        args = ["test", "--select", *(c.test for c in checks), "--vars", variables, "--target-path", target]
        started = dt.datetime.now(dt.UTC)
        done = run_dbt(args, url, capture=True)
        nodes = read_run_results(Path(target), since=started)
    if not nodes:
        tail = " ".join((done.stdout or "").split()[-60:])
        raise DqRunFailed(f"dbt test wrote no results (exit {done.returncode}): {tail}")
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            return _results(cur, {n.name: n for n in nodes}, VALIDATE_SCHEMA, checks)
    finally:
        conn.close()
