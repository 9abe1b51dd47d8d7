"""The transform step: `python -m rapidtrader.jobs.dbt_build [dbt args]` runs `dbt build` as a job.

A failing error-severity test (a risk limit, a data-quality critical tier) fails the step: dbt skips
what depends on the failed test and the step exits non-zero.
"""

from __future__ import annotations

import sys

from rapidtrader.db import DatabaseError, DbUrl, resolve_db_url
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs.runner import job_step, new_run_id


class DbtFailed(RuntimeError):
    pass


def run(url: DbUrl, run_id: str, extra_args: list[str] | None = None, job_name: str = "dbt_build") -> int:
    args = ["build", *(extra_args or [])]
    with job_step(url, job_name, run_id) as step:
        result = run_dbt(args, url)
        step.details["args"] = args
        step.details["exit_code"] = result.returncode
        if result.returncode != 0:
            raise DbtFailed(f"`dbt {' '.join(args)}` exited {result.returncode}: see the dbt output above")
    return 0


def check_freshness(url: DbUrl, run_id: str, source: str) -> int:
    """`dbt source freshness` for the source just loaded. A stale source is recorded (status partial,
    alert tiers read it) but does not stop the run: the build still publishes what is there."""
    with job_step(url, "source_freshness", run_id) as step:
        result = run_dbt(["source", "freshness", "--select", f"source:{source}"], url)
        step.details["source"] = source
        step.details["exit_code"] = result.returncode
        if result.returncode != 0:
            step.status = "partial"
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    try:
        url = resolve_db_url()
        return run(url, new_run_id(), list(sys.argv[1:] if argv is None else argv))
    except (DatabaseError, DbtFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
