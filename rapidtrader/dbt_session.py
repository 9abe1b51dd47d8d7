"""Several dbt commands in one process: `python -m rapidtrader.dbt_session REPORT COMMANDS_JSON`.

The nightly job runs `dbt source freshness` and then `dbt build`. As two `dbt` processes each paid dbt's
start-up (Python imports, reading the partial-parse state, connecting): 3 to 6 s a night. Here dbt parses
the project once (`dbt parse`, which also keeps the partial-parse state and manifest.json current for the
next night) and each command runs on that manifest through dbt's programmatic entry point (dbtRunner).

COMMANDS_JSON is a list of argument lists, each already carrying its `--vars` (rapidtrader.dbt_runner
adds them); the parse uses the `--vars` of the last command, and every command must give the same ones
(the vars decide which models exist). REPORT is a JSON file this writes: per command its arguments, start
and end (UTC ISO), and exit code (0 ok, 1 a node failed, 2 dbt could not run). The process exits with the
last command's code. It is started by rapidtrader.dbt_runner.run_dbt_session, never directly.

`--commands-on-stdin VARS_JSON` instead of COMMANDS_JSON: parse with those vars at once, then wait for the
commands as one JSON line on stdin. The nightly job starts dbt this way before its ingest step
(rapidtrader.dbt_runner.DbtSession), so dbt's imports and parse (3 to 4 s) run beside the load on the
other core, and sends the commands when it knows them (a build, or only freshness when nothing changed).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path


def _vars(args: list[str]) -> list[str]:
    return args[args.index("--vars") : args.index("--vars") + 2] if "--vars" in args else []


def _exit_code(result) -> int:
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


def run(commands: list[list[str]] | None, report: Path, parse_vars: list[str] | None = None) -> int:
    """Parse once, then run `commands`; with `commands` None, parse with `parse_vars` and then read the
    commands from one JSON line on stdin (an empty line or the end of stdin: run nothing)."""
    from dbt.cli.main import dbtRunner

    if commands is not None and not commands:
        raise ValueError("no dbt command given")
    wanted = _vars(commands[-1]) if commands is not None else list(parse_vars or [])
    done: list[dict] = []

    def invoke(runner, args: list[str], shown: list[str]):
        started = dt.datetime.now(dt.UTC)
        result = runner.invoke(list(args))
        finished = dt.datetime.now(dt.UTC)
        done.append(
            {
                "args": shown,
                "started": started.isoformat(),
                "finished": finished.isoformat(),
                "exit_code": _exit_code(result),
            }
        )
        return result

    try:
        if commands is not None:
            _check_vars(commands, wanted)
        parsed = invoke(dbtRunner(), ["parse", *wanted], ["parse"])
        if commands is None:
            line = sys.stdin.readline()
            commands = json.loads(line) if line.strip() else []
            _check_vars(commands, wanted)
            if not commands:
                return 0
        if parsed.success:
            runner = dbtRunner(manifest=parsed.result)
            for args in commands:
                # a stale source (freshness exits 1) does not stop the build; an interrupt stops everything
                if isinstance(invoke(runner, args, args).exception, KeyboardInterrupt):
                    break
    finally:
        report.write_text(json.dumps(done))
    return done[-1]["exit_code"] if done else 2


def _check_vars(commands: list[list[str]], wanted: list[str]) -> None:
    if any(_vars(c) != wanted for c in commands):
        raise ValueError("every command of a dbt session must give the same --vars")


USAGE = "usage: python -m rapidtrader.dbt_session REPORT (COMMANDS_JSON | --commands-on-stdin VARS_JSON)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2:
        return run(json.loads(argv[1]), Path(argv[0]))
    if len(argv) == 3 and argv[1] == "--commands-on-stdin":
        return run(None, Path(argv[0]), ["--vars", argv[2]])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
