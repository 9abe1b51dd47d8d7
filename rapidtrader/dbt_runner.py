"""Run dbt as a child process against the resolved database.

dbt reads its connection from profiles.example.yml through RT_DB_* variables derived from RT_DB_URL (or
the embedded server). A profiles.yml at the project root, if a user made one, wins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl, export_env
from rapidtrader.settings import get_settings


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


def run_dbt(args: list[str], url: DbUrl, *, capture: bool = False, check: bool = False) -> subprocess.CompletedProcess:
    """`dbt <args>` in the project root; output streams to the terminal unless `capture`."""
    cmd = [dbt_executable(), *args]
    return subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env=dbt_env(url),
        text=True,
        capture_output=capture,
        check=check,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m rapidtrader.dbt_runner build ...`: dbt with the project's database settings."""
    from rapidtrader.db import resolve_db_url

    url = resolve_db_url()
    return run_dbt(list(sys.argv[1:] if argv is None else argv), url).returncode


if __name__ == "__main__":
    sys.exit(main())
