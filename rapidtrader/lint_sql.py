"""`python -m rapidtrader.lint_sql [paths]`: sqlfluff with the dbt templater against the project database.

The dbt templater compiles models, so it needs a live connection: this wrapper resolves the database
(RT_DB_URL or the embedded server), writes the profile dbt reads, hands the templater every setting as a
dbt var (`[sqlfluff:templater:dbt:context]`, the same values rapidtrader.dbt_runner passes) and runs
sqlfluff with that env.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import resolve_db_url
from rapidtrader.dbt_runner import dbt_env
from rapidtrader.jobs.backtest import window_env
from rapidtrader.settings import dbt_vars, get_settings


def vars_config() -> Path:
    """A sqlfluff config file whose dbt templater context is every setting's var."""
    path = get_settings().state_dir / "sqlfluff-vars.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    # a sweep id, so the models enabled only for a sweep are linted too (main() gives a backtest window)
    variables = {**dbt_vars(), "rt_sweep_id": 1}
    lines = ["[sqlfluff:templater:dbt:context]"]
    lines += [f"{k} = {json.dumps(v) if isinstance(v, dict) else v}" for k, v in sorted(variables.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    action = "lint"
    if args and args[0] in ("lint", "fix"):
        action = args.pop(0)
    paths = args or ["dbt_project/models"]
    # a backtest window, so the models enabled only for a backtest are linted too
    env = {**dbt_env(resolve_db_url()), **window_env("2000-01-01", None)}
    sqlfluff = str(Path(sys.executable).parent / "sqlfluff")
    cmd = [sqlfluff, action, *paths, "--processes", "2", "--config", str(vars_config())]
    if action == "fix":
        cmd.append("-f")
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
