"""Run dbt as a child process against the resolved database, with every setting as a var.

dbt reads its connection from profiles.example.yml through RT_DB_* variables derived from RT_DB_URL (or
the embedded server). A profiles.yml at the project root, if a user made one, wins. The settings dbt's
models and tests read come from rapidtrader.settings as `--vars` (validated first); a `--vars` given by
the caller (a backtest window, a test) is merged over them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl, export_env
from rapidtrader.settings import dbt_vars, fail_fast, get_settings

# dbt commands that take no --vars
_NO_VARS = {"clean", "deps", "init"}


def profiles_dir() -> Path:
    if (PROJECT_ROOT / "profiles.yml").exists():
        return PROJECT_ROOT
    target = get_settings().state_dir / "dbt"
    target.mkdir(parents=True, exist_ok=True)
    example = (PROJECT_ROOT / "profiles.example.yml").read_bytes()
    profile = target / "profiles.yml"
    if not profile.exists() or profile.read_bytes() != example:
        # Replaced in one step, never rewritten in place: another job's dbt may be reading it right now
        # (a copy truncates the file first, and a dbt that read it then found no profile).
        partial = target / f".profiles.yml.{os.getpid()}"
        partial.write_bytes(example)
        os.replace(partial, profile)
    return target


def dbt_env(url: DbUrl) -> dict[str, str]:
    env = dict(os.environ)
    env.update(export_env(url))
    env.setdefault("DBT_PROFILES_DIR", str(profiles_dir()))
    env.setdefault("DBT_LOG_PATH", str(get_settings().state_dir / "dbt-logs"))
    env.setdefault("DBT_TARGET_PATH", str(PROJECT_ROOT / "target"))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # No JIT for dbt's sessions: the bar pipeline's plans are estimated in the billions of rows (the scope
    # of an incremental night is unknown to the planner), so PostgreSQL compiled them with LLVM for 2 to 4 s
    # to run for well under one (measured on PostgreSQL 15). Same results, no compile.
    # The same work_mem on any server as on the embedded one (RT_WORK_MEM_MB): with PostgreSQL's default
    # 4 MB a full rebuild's window sorts and hashes spill to disk (signals_daily's key test grouped 3.8M
    # rows on disk at 10 years). Per session only; the server's own setting is left alone.
    env["PGOPTIONS"] = " ".join(filter(None, [env.get("PGOPTIONS", ""), JIT_OFF, work_mem_option()]))
    return env


JIT_OFF = "-c jit=off"


def work_mem_option() -> str:
    return f"-c work_mem={get_settings().work_mem_mb}MB"


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else (shutil.which("dbt") or "dbt")


def with_vars(args: list[str]) -> list[str]:
    """`args` with one `--vars`: every setting, overridden by the caller's own `--vars` if it gave one."""
    if not args or args[0] in _NO_VARS or args[:2] == ["docs", "serve"]:
        return list(args)
    merged = dbt_vars()
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--vars" and i + 1 < len(args):
            import yaml

            merged.update(yaml.safe_load(args[i + 1]) or {})
            i += 2
            continue
        rest.append(args[i])
        i += 1
    from rapidtrader.ledger_runs import ledger_run

    merged["rt_ledger_run"] = json.dumps(ledger_run(merged))
    return [*rest, "--vars", json.dumps(merged)]


# prctl(2) option: the signal the kernel sends this process when the thread that started it dies.
_PR_SET_PDEATHSIG = 1
# How long dbt gets to cancel its queries on the server (dbt does that on SIGINT) before it is killed.
_DBT_STOP_GRACE_S = 15.0


def _die_with_parent():
    """preexec_fn of the dbt child: dbt gets SIGKILL the moment the job that started it dies, even by a
    SIGKILL that gives the job no chance to clean up. Without it dbt went on building as an orphan and the
    next run collided with it ("relation ... already exists"). Linux only; elsewhere dbt still dies with
    the job on SIGTERM and Ctrl-C (run_dbt stops it), not on SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util
    import signal

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)  # loaded before the fork
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the job died between fork and prctl: nobody would kill us later
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _stop(proc: subprocess.Popen) -> None:
    """Stop dbt's process group: SIGINT first (dbt cancels its running queries on the server), SIGKILL
    after _DBT_STOP_GRACE_S."""
    import signal

    for sig, grace in ((signal.SIGINT, _DBT_STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_dbt(
    args: list[str],
    url: DbUrl,
    *,
    capture: bool = False,
    check: bool = False,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`dbt <args>` in the project root, with `env` added to its environment; output streams to the terminal
    unless `capture`.

    dbt dies with the job: it runs in its own process group, which the job stops (SIGINT, then SIGKILL)
    when the job itself is interrupted or terminated, and on Linux it also gets a parent-death signal, so a
    SIGKILL of the job kills dbt too. Call it from the thread that lives as long as the job (the death
    signal follows the thread that started the child).
    """
    return _run_child([dbt_executable(), *with_vars(args)], url, capture=capture, check=check, env=env)


def run_dbt_session(
    commands: list[list[str]], url: DbUrl, report: Path, *, capture: bool = False
) -> subprocess.CompletedProcess:
    """Several dbt commands in one dbt process that parses the project once (rapidtrader.dbt_session):
    each command's start, end and exit code go to the JSON file `report`. Stops like run_dbt."""
    cmd = [sys.executable, "-m", "rapidtrader.dbt_session", str(report), json.dumps([with_vars(c) for c in commands])]
    return _run_child(cmd, url, capture=capture)


class DbtSession:
    """A dbt session started before its commands are known (`rapidtrader.dbt_session --commands-on-stdin`):
    dbt imports and parses the project while the caller goes on (the nightly job: its ingest step), then
    `run(commands)` hands it the commands and waits, like run_dbt_session. `close()` ends a session that
    got no commands (nothing runs); an interrupt stops it like run_dbt. Start it from the thread that lives
    as long as the job (see run_dbt)."""

    def __init__(self, url: DbUrl, *, capture: bool = False):
        self._folder = tempfile.TemporaryDirectory()
        self.report = Path(self._folder.name) / "session.json"
        parse_vars = with_vars(["build"])[-1]
        self.cmd = [
            sys.executable, "-m", "rapidtrader.dbt_session", str(self.report), "--commands-on-stdin", parse_vars
        ]  # fmt: skip
        pipe = subprocess.PIPE if capture else None
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=PROJECT_ROOT,
            env=dbt_env(url),
            text=True,
            stdin=subprocess.PIPE,
            stdout=pipe,
            stderr=pipe,
            process_group=0,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 - as in _run_child
        )

    def run(self, commands: list[list[str]]) -> subprocess.CompletedProcess:
        """Run `commands` (each gets the settings as --vars) and wait for the session to end."""
        try:
            stdout, stderr = self.proc.communicate(json.dumps([with_vars(c) for c in commands]) + "\n")
        except BaseException:
            _stop(self.proc)
            raise
        return subprocess.CompletedProcess(self.cmd, self.proc.returncode, stdout, stderr)

    def commands(self) -> list[dict]:
        """What the session reported per command (parse included): args, started, finished, exit_code."""
        return json.loads(self.report.read_text()) if self.report.exists() else []

    def close(self, *, stop: bool = False) -> None:
        """End the session: with no commands sent it exits after its parse; `stop` (the job is failing or
        interrupted) stops it at once."""
        if self.proc.poll() is None:
            if stop:
                _stop(self.proc)
            else:
                try:
                    self.proc.communicate("\n", timeout=60)
                except (subprocess.TimeoutExpired, OSError, ValueError):
                    _stop(self.proc)
        self._folder.cleanup()


def _run_child(
    cmd: list[str], url: DbUrl, *, capture: bool = False, check: bool = False, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        env={**dbt_env(url), **(env or {})},
        text=True,
        stdout=pipe,
        stderr=pipe,
        process_group=0,
        preexec_fn=_die_with_parent(),  # noqa: PLW1509 - prctl has no other way in; it only calls prctl
    ) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            _stop(proc)
            raise
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if check:
        result.check_returncode()
    return result


@fail_fast
def main(argv: list[str] | None = None) -> int:
    """`python -m rapidtrader.dbt_runner build ...`: dbt with the project's database settings."""
    from rapidtrader.db import resolve_db_url

    url = resolve_db_url()
    return run_dbt(list(sys.argv[1:] if argv is None else argv), url).returncode


if __name__ == "__main__":
    sys.exit(main())
