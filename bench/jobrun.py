"""Run one RapidTrader job as a child process, the way a scheduler would, and collect what it cost.

A benchmark of the nightly run must time the real command (`python -m rapidtrader.jobs.eod ...`), not a
function called in the benchmark's own process: process start, imports, dbt's parse and the warehouse
lock are part of what a night costs. Each run gets its own folder with its own DBT_TARGET_PATH and
DBT_LOG_PATH, so run_results.json and dbt.log belong to that run alone; the previous run's partial-parse
state is copied in first, as a nightly run on one machine would find it in `target/`.

What is collected for one run:
- wall seconds of the child, from spawn to exit;
- peak memory: the largest RSS of any single process of the job's tree (the kernel's ru_maxrss over the
  job and the children it waited for, e.g. dbt, taken by bench/launch.py), and the peak of the whole
  tree's summed RSS, sampled every 0.1 s with psutil (catches dbt and the job running side by side; may
  miss a spike shorter than a sample). The Postgres server's own memory is not part of either;
- the job's own bookkeeping: its ops.job_log steps and the peak_rss_mb of its ops.run_metrics rows;
- the 10 slowest nodes of run_results.json, and whether dbt could reuse its partial parse.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl, connect

# Settings that must not leak from the caller's environment into a benchmark job: alerts and mail go
# nowhere, and every run is named by the benchmark so its job_log rows can be found.
_DROPPED_ENV = ("RT_ALERT_WEBHOOK_URL", "RT_RUN_ID", "RT_REPORT_EMAIL", "RT_SMTP_HOST", "RT_SMTP_TO")


@dataclass
class Step:
    """One ops.job_log row of the run."""

    job_name: str
    seconds: float | None
    status: str
    rows: int | None
    peak_rss_mb: float | None = None  # the job's own figure at the end of this step (a running maximum)


@dataclass
class NodeTime:
    """One dbt node of run_results.json."""

    unique_id: str
    seconds: float
    status: str


@dataclass
class JobRun:
    """What one child job cost. `error` is set when the job could not run or exited non-zero."""

    label: str
    command: list[str]
    run_id: str
    folder: Path
    seconds: float = 0.0
    exit_code: int | None = None
    max_process_rss_mb: float = 0.0
    tree_rss_mb: float = 0.0
    job_peak_rss_mb: float | None = None
    steps: list[Step] = field(default_factory=list)
    slowest_nodes: list[NodeTime] = field(default_factory=list)
    dbt_command: str | None = None
    dbt_nodes: int = 0
    dbt_elapsed_s: float | None = None
    node_seconds_by_type: dict[str, float] = field(default_factory=dict)
    full_parses: int = 0
    load_before: float | None = None
    load_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def peak_mb(self) -> float:
        """The highest of the three memory figures: the one a target is judged on."""
        return max(self.max_process_rss_mb, self.tree_rss_mb, self.job_peak_rss_mb or 0.0)

    def as_dict(self) -> dict:
        """JSON-friendly figures (for --json), without the folder."""
        return {
            "label": self.label,
            "command": " ".join(self.command),
            "run_id": self.run_id,
            "seconds": round(self.seconds, 2),
            "exit_code": self.exit_code,
            "max_process_rss_mb": round(self.max_process_rss_mb, 1),
            "tree_rss_mb": round(self.tree_rss_mb, 1),
            "job_peak_rss_mb": self.job_peak_rss_mb,
            "steps": [s.__dict__ for s in self.steps],
            "slowest_nodes": [n.__dict__ for n in self.slowest_nodes],
            "dbt_command": self.dbt_command,
            "dbt_nodes": self.dbt_nodes,
            "dbt_elapsed_s": self.dbt_elapsed_s,
            "node_seconds_by_type": self.node_seconds_by_type,
            "full_parses": self.full_parses,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "error": self.error,
        }


def job_env(url: DbUrl, folder: Path, run_id: str, sample_dir: Path | None) -> dict[str, str]:
    """The environment of one benchmark job: the scratch database, the file folder, and every file the
    job writes (dbt target and logs, job logs, reports) inside the run's own folder."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(
        RT_DB_URL=url.url,
        RT_RUN_ID=run_id,
        RT_PROGRESS="0",
        RT_REPORT_EMAIL="0",
        RT_LOG_DIR=str(folder / "logs"),
        RT_REPORT_DIR=str(folder / "reports"),
        DBT_TARGET_PATH=str(folder / "target"),
        DBT_LOG_PATH=str(folder / "dbt-logs"),
        RUNTIME__DLTHUB_TELEMETRY="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    if sample_dir is not None:
        env["RT_SAMPLE_DIR"] = str(sample_dir)
    return env


def carry_parse_state(previous: JobRun | None, folder: Path) -> None:
    """Give the new run the partial-parse state the previous run left, as `target/` would on a machine
    that runs every night; without it every run pays dbt's full parse (several seconds)."""
    (folder / "target").mkdir(parents=True, exist_ok=True)
    if previous is None:
        return
    state = previous.folder / "target" / "partial_parse.msgpack"
    if state.exists():
        shutil.copyfile(state, folder / "target" / "partial_parse.msgpack")


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop_event = threading.Event()

    def _tree_rss(self) -> int:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
            self._stop_event.wait(self.interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


LAUNCHER = Path(__file__).with_name("launch.py")


def _spawn(command: list[str], env: dict[str, str], folder: Path) -> tuple[float, int, float, float]:
    """Run the command to its end through bench/launch.py (see there why); (seconds, exit code, largest
    single-process RSS MB of the job's tree, sampled tree RSS MB). The launcher's start (~20 ms) is inside
    the wall time; it is what `make` adds too."""
    rusage_file = folder / "rusage_kb"
    rusage_file.unlink(missing_ok=True)
    with (folder / "output.log").open("w") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, str(LAUNCHER), str(rusage_file), *command],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        sampler = _TreeSampler(child.pid)
        sampler.start()
        try:
            code = child.wait()
        except BaseException:
            child.kill()
            raise
        finally:
            sampler.stop()
        seconds = time.perf_counter() - started
    try:
        max_rss_mb = int(rusage_file.read_text().strip()) / 1024.0
    except (OSError, ValueError):
        max_rss_mb = 0.0
    return seconds, code, max_rss_mb, sampler.peak_bytes / 1024.0**2


def _steps(url: DbUrl, run_id: str) -> tuple[list[Step], float | None]:
    """The run's ops.job_log rows in the order they started, and the highest peak_rss_mb the job recorded
    in ops.run_metrics. Jobs that keep no job_log (the backtest, dbt_runner) give ([], None)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('ops.job_log') is not null, to_regclass('ops.run_metrics') is not null")
            has_log, has_metrics = cur.fetchone()
            steps: list[Step] = []
            peak = None
            if has_log:
                peak_of_step = "null::float8"
                if has_metrics:
                    peak_of_step = (
                        "(select max(m.peak_rss_mb) from ops.run_metrics as m "
                        "where m.run_id = j.run_id and m.job_name = j.job_name)"
                    )
                cur.execute(
                    "select j.job_name, extract(epoch from j.finished_at - j.started_at)::float8, j.status, "  # noqa: S608
                    f"j.rows, {peak_of_step} from ops.job_log as j where j.run_id = %s order by j.started_at, j.id",
                    (run_id,),
                )
                steps = [Step(*row) for row in cur.fetchall()]
            if has_metrics:
                cur.execute("select max(peak_rss_mb) from ops.run_metrics where run_id = %s", (run_id,))
                peak = cur.fetchone()[0]
            return steps, peak
    finally:
        conn.close()


@dataclass
class DbtRun:
    """What run_results.json says about one dbt command."""

    command: str | None = None
    nodes: int = 0
    elapsed_s: float | None = None
    seconds_by_type: dict[str, float] = field(default_factory=dict)
    slowest: list[NodeTime] = field(default_factory=list)


def _dbt_results(target: Path, since: dt.datetime, top: int) -> DbtRun:
    """The dbt command of run_results.json, if this run wrote it: its elapsed time (dbt's own clock, after
    parse), node seconds summed per resource type (threads overlap, so the sums exceed the elapsed time),
    and the `top` slowest nodes."""
    try:
        results = json.loads((target / "run_results.json").read_text())
    except (OSError, ValueError):
        return DbtRun()
    generated = results.get("metadata", {}).get("generated_at", "")
    if generated and dt.datetime.fromisoformat(generated.replace("Z", "+00:00")) < since:
        return DbtRun()
    nodes = [
        NodeTime(r.get("unique_id", "?"), float(r.get("execution_time") or 0.0), str(r.get("status")))
        for r in results.get("results", [])
    ]
    by_type: dict[str, float] = {}
    for node in nodes:
        kind = node.unique_id.split(".")[0]
        by_type[kind] = round(by_type.get(kind, 0.0) + node.seconds, 2)
    nodes.sort(key=lambda n: n.seconds, reverse=True)
    return DbtRun(
        command=results.get("args", {}).get("which"),
        nodes=len(nodes),
        elapsed_s=results.get("elapsed_time"),
        seconds_by_type=by_type,
        slowest=nodes[:top],
    )


def _full_parses(log_dir: Path) -> int:
    """How many dbt commands of the run had to parse the project from scratch: dbt says "Unable to do partial
    parsing because ..." once for each, whatever the reason (no saved state, changed vars, a changed macro
    override); only some of the reasons also say "Starting full parse"."""
    try:
        text = (log_dir / "dbt.log").read_text(errors="replace")
    except OSError:
        return 0
    return text.count("Unable to do partial parsing")


def _load() -> float | None:
    """The 1-minute load average: on a shared machine it says how much a figure can be trusted."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_job(
    label: str,
    args: list[str],
    url: DbUrl,
    folder: Path,
    *,
    sample_dir: Path | None = None,
    previous: JobRun | None = None,
    top_nodes: int = 10,
) -> JobRun:
    """Run `python <args>` against `url` as a child process and measure it. Never raises for a failed
    job: the JobRun carries the error (with the tail of the job's output) so the benchmark can go on."""
    folder.mkdir(parents=True, exist_ok=True)
    run_id = f"bench_{folder.name}"
    command = [sys.executable, *args]
    job = JobRun(label=label, command=["python", *args], run_id=run_id, folder=folder)
    carry_parse_state(previous, folder)
    since = dt.datetime.now(dt.UTC)
    job.load_before = _load()
    log = folder / "output.log"
    try:
        job.seconds, job.exit_code, job.max_process_rss_mb, job.tree_rss_mb = _spawn(
            command, job_env(url, folder, run_id, sample_dir), folder
        )
    except OSError as exc:
        job.error = f"could not start {' '.join(job.command)}: {exc}"
        return job
    job.load_after = _load()
    if job.exit_code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        job.error = f"exited {job.exit_code}; last output:\n{tail}"
    try:
        job.steps, job.job_peak_rss_mb = _steps(url, run_id)
    except Exception as exc:  # noqa: BLE001 - the breakdown is extra; the timing stands without it
        job.steps = [Step(f"(job_log unreadable: {exc})", None, "?", None)]
    dbt_run = _dbt_results(folder / "target", since, top_nodes)
    job.dbt_command, job.dbt_nodes, job.slowest_nodes = dbt_run.command, dbt_run.nodes, dbt_run.slowest
    job.dbt_elapsed_s, job.node_seconds_by_type = dbt_run.elapsed_s, dbt_run.seconds_by_type
    job.full_parses = _full_parses(folder / "dbt-logs")
    return job
