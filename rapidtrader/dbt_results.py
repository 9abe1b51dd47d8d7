"""dbt's verdicts: read from target/run_results.json once, right after the dbt command that wrote them, and
kept in the warehouse (ops.dbt_results) for everything that asks later.

Why a copy: run_results.json is one file per project folder, overwritten by every dbt command (`make docs`
too) and shared by every database the folder builds, so an alert, a health check or a report read later
could show another command's or another database's results. The rows of ops.dbt_results carry the run id
and the database they belong to by construction.

A node is `risk` when it sits under dbt_project/tests/risk/ (or is tagged risk), `dq` under
dbt_project/tests/dq/ (or tagged dq); the manifest written by the same command says which.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from rapidtrader import PROJECT_ROOT

FAILED = ("error", "fail", "runtime error")
NOT_PASSED = (*FAILED, "warn", "skipped")


@dataclass(frozen=True)
class NodeResult:
    """One node of one dbt invocation: a model, seed or test with its status (pass, warn, fail, error,
    success, skipped), the test's failure count (dbt's fail_calc) and dbt's message."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    kind: str  # risk, dq, test, model, seed, ...
    failures: int | None = None
    message: str | None = None
    invocation_id: str | None = None
    generated_at: dt.datetime | None = None
    execution_s: float | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def describe(self) -> str:
        """`test risk_buys_within_cash (fail, 3)` / `model ledger (error: relation ... does not exist)`."""
        detail = self.status
        if self.failures and self.resource_type == "test":
            detail += f", {self.failures}"
        if self.status in ("error", "runtime error") and self.message:
            detail += ": " + " ".join(self.message.split())[:200]
        return f"{self.resource_type} {self.name} ({detail})"


def target_path() -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH (set by rapidtrader.dbt_runner), else <repo>/target."""
    return Path(os.environ.get("DBT_TARGET_PATH") or PROJECT_ROOT / "target")


def _kind(uid: str, node: dict) -> str:
    resource_type = uid.split(".")[0]
    if resource_type != "test":
        return resource_type
    path = node.get("original_file_path", "")
    tags = node.get("tags", [])
    if "/tests/risk/" in f"/{path}" or "risk" in tags:
        return "risk"
    if "/tests/dq/" in f"/{path}" or "dq" in tags:
        return "dq"
    return "test"


def _stamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_run_results(target: Path | None = None, since: dt.datetime | None = None) -> list[NodeResult] | None:
    """The nodes of the last dbt command in `target`; None when there is no file, or when it was written
    before `since` (dbt stopped before writing results, so the file belongs to an earlier command)."""
    folder = target or target_path()
    try:
        results = json.loads((folder / "run_results.json").read_text())
    except (OSError, ValueError):
        return None
    metadata = results.get("metadata", {})
    generated = _stamp(metadata.get("generated_at"))
    if since is not None and (generated is None or generated < since):
        return None
    try:
        nodes = json.loads((folder / "manifest.json").read_text()).get("nodes", {})
    except (OSError, ValueError):
        nodes = {}
    out = []
    for result in results.get("results", []):
        uid = result.get("unique_id", "")
        node = nodes.get(uid, {})
        out.append(
            NodeResult(
                unique_id=uid,
                name=node.get("name") or (uid.split(".")[2] if uid.count(".") >= 2 else uid),
                resource_type=uid.split(".")[0],
                status=str(result.get("status")),
                kind=_kind(uid, node),
                failures=result.get("failures"),
                message=result.get("message"),
                invocation_id=metadata.get("invocation_id"),
                generated_at=generated,
                execution_s=result.get("execution_time"),
            )
        )
    return out


def describe_failures(results: list[NodeResult], limit: int = 10) -> str:
    """One line naming the failed models and tests, for job_log.error and the alert."""
    failed = [r for r in results if r.failed]
    if not failed:
        return "no failed node in run_results.json"
    shown = "; ".join(r.describe() for r in failed[:limit])
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    return f"{len(failed)} failed: {shown}{more}"


def record(cur, run_id: str, job_name: str, results: list[NodeResult]) -> None:
    """Keep one invocation's verdicts in ops.dbt_results (messages redacted like every other sink)."""
    from rapidtrader.redact import configured_secrets, redact

    secrets = configured_secrets()
    cur.executemany(
        """
        insert into ops.dbt_results (
            run_id, job_name, invocation_id, generated_at, unique_id, name, resource_type, kind, status,
            failures, message, execution_s
        ) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        [
            (
                run_id,
                job_name,
                r.invocation_id,
                r.generated_at,
                r.unique_id,
                r.name,
                r.resource_type,
                r.kind,
                r.status,
                r.failures,
                redact(r.message, secrets),
                r.execution_s,
            )
            for r in results
        ],
    )


_COLUMNS = "unique_id, name, resource_type, status, kind, failures, message, invocation_id, generated_at, execution_s"


def recorded_for_run(cur, run_id: str) -> list[NodeResult]:
    """Every verdict the steps of one run recorded, in the order dbt reported them."""
    cur.execute(f"select {_COLUMNS} from ops.dbt_results where run_id = %s order by id", (run_id,))
    return [NodeResult(*row) for row in cur.fetchall()]


def latest_tests(cur, kind: str | None = None) -> list[NodeResult]:
    """The newest recorded verdict of every test (of one kind), whichever run ran it last."""
    cur.execute(
        f"""
        select distinct on (unique_id) {_COLUMNS}
        from ops.dbt_results
        where resource_type = 'test' and (%s::text is null or kind = %s)
        order by unique_id, id desc
        """,
        (kind, kind),
    )
    return [NodeResult(*row) for row in cur.fetchall()]
