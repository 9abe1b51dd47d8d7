"""Where a run's time went: the seconds of each job step (ops.job_log) and of the slowest dbt nodes
(ops.dbt_results), printed at the end of `make eod` and kept for `select ... from job_log`."""

from __future__ import annotations

from rapidtrader.db import DbUrl, connect


def breakdown(url: DbUrl, run_id: str, slowest: int = 10) -> str:
    """A few lines: each step of the run with its seconds, then the `slowest` dbt nodes."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select job_name, status, extract(epoch from coalesce(finished_at, now()) - started_at), "
                "details ->> 'skipped' from ops.job_log where run_id = %s order by started_at, id",
                (run_id,),
            )
            steps = cur.fetchall()
            cur.execute(
                "select resource_type, name, execution_s from ops.dbt_results "
                "where run_id = %s and execution_s is not null order by execution_s desc limit %s",
                (run_id, slowest),
            )
            nodes = cur.fetchall()
    finally:
        conn.close()
    lines = [f"Where the time went (run {run_id}):"]
    lines += [
        f"  {name:<20} {seconds:7.1f} s  {status}" + (f" (skipped: {skipped})" if skipped else "")
        for name, status, seconds, skipped in steps
    ]
    if nodes:
        lines.append("  slowest dbt nodes:")
        lines += [f"    {seconds:6.1f} s  {kind} {name}" for kind, name, seconds in nodes]
    return "\n".join(lines)
