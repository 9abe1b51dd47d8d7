"""Restore a backup: `python scripts/restore.py [BACKUP.dump | --latest] [--target-db NAME] [--force]`.

Restores into a database on the same server as RT_DB_URL (or the embedded one): by default a new database
named `<db>_restored`; `--target-db` names another, and an existing non-empty target is replaced only
with `--force`. pg_restore matches the server's major version (see backup.py). Afterwards the search_path
is set (so the runbook's queries work verbatim) and every table's row count is compared with the
backup's manifest: exit 1 when any differs. As in backup.py, the password reaches pg_restore through
PGPASSWORD, never its command line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from backup import ToolMissing, backup_dir, find_tool, row_counts, server_major  # noqa: E402
from psycopg2 import sql  # noqa: E402

from rapidtrader import logs  # noqa: E402
from rapidtrader.db import (  # noqa: E402
    DatabaseError,
    DbUrl,
    connect,
    libpq_connection,  # noqa: E402
    prepare_database,
    resolve_db_url,
)
from rapidtrader.redact import guard_std_streams, redact  # noqa: E402
from rapidtrader.settings import fail_fast  # noqa: E402


def latest_backup(folder: Path) -> Path:
    dumps = sorted(folder.glob("*.dump"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise FileNotFoundError(f"no backup in {folder}: run `python scripts/backup.py` first or pass a file")
    return dumps[-1]


def prepare_target(base: DbUrl, name: str, force: bool) -> DbUrl:
    conn = connect(base.with_dbname("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (name,))
        if cur.fetchone() is not None:
            if not force:
                raise DatabaseError(f"database {name} exists: pass --force to replace it, or --target-db a new name")
            cur.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    conn.close()
    return base.with_dbname(name)


def compare(expected: dict[str, int], actual: dict[str, int]) -> list[tuple[str, int | None, int | None]]:
    return [
        (t, expected.get(t), actual.get(t))
        for t in sorted(set(expected) | set(actual))
        if expected.get(t) != actual.get(t) and t in expected
    ]


def restore(base: DbUrl, dump: Path, target_db: str, force: bool, pg_restore: str | None = None) -> int:
    if not dump.exists():
        raise FileNotFoundError(f"{dump} does not exist")
    manifest_path = dump.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    major, version = server_major(base)
    tool, tool_version = find_tool("pg_restore", major, pg_restore)
    target = prepare_target(base, target_db, force)
    dbname, env = libpq_connection(target)
    result = subprocess.run(
        [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", dbname, str(dump)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise DatabaseError(f"pg_restore into {target_db} failed: {redact(result.stderr.strip()[:2000])}")
    prepare_database(target)  # search_path, and any ops table added since the backup
    print(f"server PostgreSQL {version}; using {tool} (major {tool_version})")
    print(f"restored {dump.name} into database {target_db}")
    expected = manifest.get("row_counts", {})
    if not expected:
        print("no manifest beside the backup: row counts not verified")
        return 0
    bad = compare(expected, row_counts(target))
    logs.get_logger("database").info("restore %s into %s: %d table(s) differ", dump, target_db, len(bad))
    if bad:
        for table, want, got in bad:
            print(f"MISMATCH {table}: backup {want}, restored {got}")
        return 1
    print(f"verified: all {len(expected)} tables have the row counts of the backup")
    return 0


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backup", nargs="?", type=Path, help="a .dump written by backup.py")
    parser.add_argument("--latest", action="store_true", help="the newest backup in RT_BACKUP_DIR")
    parser.add_argument("--target-db", help="database to restore into (default <db>_restored)")
    parser.add_argument("--force", action="store_true", help="replace the target database if it exists")
    parser.add_argument("--pg-restore", help="explicit pg_restore binary")
    args = parser.parse_args(argv)
    logs.setup_logging()
    guard_std_streams()
    try:
        base = resolve_db_url()
        dump = args.backup or latest_backup(backup_dir())
        return restore(base, dump, args.target_db or f"{base.dbname}_restored", args.force, args.pg_restore)
    except (DatabaseError, ToolMissing, OSError, ValueError) as exc:
        logs.get_logger("database").error("restore failed: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
