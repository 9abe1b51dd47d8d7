"""The nightly benchmark's harness works end to end: `python -m bench.bench_nightly` on a tiny synthetic set
(5 symbols x 1 year) and the bundled sample cut to 5 stocks, with --no-targets.

Nothing here is timed or judged by time: a benchmark's figures depend on the machine. What CI must catch is
a broken instrument: a job it can no longer start, a section that measures nothing, a breakdown that comes
back empty (job_log or run_results.json no longer where the harness looks), a digest that cannot be taken.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rapidtrader import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EOD_STEPS = {"eod_run", "ingest_sample", "source_freshness", "dbt_build", "eod_report"}


@pytest.fixture(scope="module")
def bench(pg_server, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_nightly") / "figures.json"
    env = dict(os.environ, RT_PROGRESS="0")
    env.pop("RT_ALERT_WEBHOOK_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_nightly",
            "--years",
            "1",
            "--symbols",
            "5",
            "--sample-symbols",
            "5",
            "--no-targets",
            "--server",
            pg_server.url,
            "--json",
            str(out),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result.stdout, json.loads(out.read_text())


def test_every_section_is_printed(bench):
    stdout, _ = bench
    for heading in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6.", "== 7."):
        assert heading in stdout
    assert "(not judged)" in stdout  # --no-targets: times are printed, never judged


def test_nightly_jobs_ran_and_were_broken_down(bench):
    _, figures = bench
    labels = [r["label"] for r in figures["nightly"]]
    assert labels == ["1 y", "sample"]
    for size in figures["nightly"]:
        assert size["errors"] == [], size["errors"]
        for key in ("new_session", "nothing_new"):
            run = size[key]
            assert run["exit_code"] == 0 and run["seconds"] > 0
            assert {s["job_name"] for s in run["steps"]} == EOD_STEPS
            assert run["max_process_rss_mb"] > 0 and run["tree_rss_mb"] > 0 and run["job_peak_rss_mb"] > 0
        assert size["new_session"]["dbt_command"] == "build" and len(size["new_session"]["slowest_nodes"]) == 10
        # nothing new: dbt ran only the freshness check, which writes no run_results.json (the skip itself is
        # tests/foundation/test_nightly_skip.py)
        assert size["nothing_new"]["dbt_command"] is None
        # The digest and the stored rows were compared (whether a re-run changes nothing is its own test).
        assert size["noop_differences"] is not None and size["noop_rewritten"] is not None


def test_rebuild_backtest_and_size_were_measured(bench):
    _, figures = bench
    rebuild = figures["nightly"][0]["rebuild"]
    assert rebuild["exit_code"] == 0 and rebuild["dbt_command"] == "build" and rebuild["steps"] == []
    demo = figures["demo"]
    assert demo["errors"] == [], demo["errors"]
    assert demo["backtest"]["exit_code"] == 0 and demo["backtest"]["slowest_nodes"]
    assert demo["db_size_mb"] > 0 and len(demo["largest"]) == 15
