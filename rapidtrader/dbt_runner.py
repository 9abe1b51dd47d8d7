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
    shutil.copyfile(PROJECT_ROOT / "profiles.example.yml", target / "profiles.yml")
    return target


def dbt_env(url: DbUrl) -> dict[str, str]:
    env = dict(os.environ)
    env.update(export_env(url))
    env.setdefault("DBT_PROFILES_DIR", str(profiles_dir()))
    env.setdefault("DBT_LOG_PATH", str(get_settings().state_dir / "dbt-logs"))
    env.setdefault("DBT_TARGET_PATH", str(PROJECT_ROOT / "target"))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


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
    return [*rest, "--vars", json.dumps(merged)]


def run_dbt(args: list[str], url: DbUrl, *, capture: bool = False, check: bool = False) -> subprocess.CompletedProcess:
    """`dbt <args>` in the project root; output streams to the terminal unless `capture`."""
    cmd = [dbt_executable(), *with_vars(args)]
    return subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env=dbt_env(url),
        text=True,
        capture_output=capture,
        check=check,
    )


@fail_fast
def main(argv: list[str] | None = None) -> int:
    """`python -m rapidtrader.dbt_runner build ...`: dbt with the project's database settings."""
    from rapidtrader.db import resolve_db_url

    url = resolve_db_url()
    return run_dbt(list(sys.argv[1:] if argv is None else argv), url).returncode


if __name__ == "__main__":
    sys.exit(main())
