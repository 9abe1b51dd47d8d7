"""Start a job from a small process and write the job's peak memory to a file.

    python bench/launch.py RUSAGE_FILE COMMAND [ARGS...]

Why a launcher: Linux keeps a process's peak RSS across fork and exec, so a job started straight from the
benchmark (which holds a generated data set of hundreds of MB) would report at least the benchmark's own
peak, both to the benchmark (ru_maxrss) and in its own ops.run_metrics.peak_rss_mb. `make eod` starts the
job from `make`, a few MB. This launcher imports nothing heavy, forks, execs the job and waits for it
with wait4, whose ru_maxrss is then the largest RSS of the job or of any child it waited for (dbt).
Exits with the job's exit code (127 when the command cannot be started).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    rusage_file, command = argv[0], argv[1:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            print(f"launch: cannot start {command[0]}: {exc}", file=sys.stderr)
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(rusage_file, "w") as out:
        out.write(f"{usage.ru_maxrss}\n")  # kilobytes on Linux
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
