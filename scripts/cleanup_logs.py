"""Enforce log retention: `python scripts/cleanup_logs.py [--days 30] [--compress-after 7] [--dry-run]`.

Rotated files in RT_LOG_DIR (`app.log.YYYY-MM-DD`) older than --compress-after days are gzipped, older than
--days deleted. The running jobs do the same at each midnight rotation; this catches files rotated while
no process was running (run it from cron, or before a backup of the log folder). A log folder that does not
exist yet (a new machine, nothing has run) holds nothing to clean: that is said and the exit code is 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidtrader import logs  # noqa: E402
from rapidtrader.settings import fail_fast, get_settings  # noqa: E402


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=logs.retention_days(), help="delete after N days (30)")
    parser.add_argument("--compress-after", type=int, default=logs.compress_after_days(), help="gzip after N days (7)")
    parser.add_argument("--log-dir", type=Path, default=None, help="default RT_LOG_DIR or <repo>/logs")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done")
    args = parser.parse_args(argv)
    folder = args.log_dir or get_settings().log_dir
    if not folder.exists():
        print(f"{folder}: no log folder yet, nothing to clean (it is created by the first job that logs)")
        return 0
    if not folder.is_dir():
        print(f"error: {folder} is not a folder; set RT_LOG_DIR or pass --log-dir", file=sys.stderr)
        return 1
    result = logs.enforce_retention(
        folder, keep_days=args.days, compress_days=args.compress_after, dry_run=args.dry_run
    )
    verb = "would " if args.dry_run else ""
    for path in result.compressed:
        print(f"{verb}compress {path.name}")
    for path in result.deleted:
        print(f"{verb}delete {path.name}")
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    print(
        f"{folder}: {len(result.compressed)} {verb}compressed, {len(result.deleted)} {verb}deleted "
        f"(keep {args.days} days, gzip after {args.compress_after})"
    )
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
