"""What the nightly `dbt build` reads, as one fingerprint: a night that finds the fingerprint the last
successful nightly build recorded has nothing to build, and `make eod` skips the build.

The fingerprint has four parts:
- **code**: every file of the dbt project (models, macros, seeds, tests, dbt_project.yml) and the dbt
  versions;
- **settings**: every `--vars` value the build gets (rapidtrader.dbt_runner.with_vars) and every
  environment variable the project reads with `env_var()`;
- **raw data**, read before the build: per table of the raw schemas, its row count and newest
  `loaded_at`, and per bar table the bars dated after today (the bar pipeline quarantines a future date, so
  a future-dated bar whose day arrives changes the build);
- **the warehouse's relations**, read after the build: the identity and storage of every table and view
  outside `ops` (so a dropped, re-created, truncated or rewritten relation is noticed).

The record is `ops.nightly_build_inputs` (one row). Only `make eod` writes it, after a nightly build that
succeeded; every `dbt build`, `run`, `seed` or `snapshot` deletes it when it starts
(`forget_nightly_build_inputs`, an on-run-start hook), so a backtest, a sweep, a manual build or a failed
one leaves the next night building. The skip trusts that the warehouse's tables are written by builds and
its raw tables by loads: a hand-made UPDATE that keeps a raw row's count and `loaded_at` is not noticed,
as the incremental build itself would not notice it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl, connect

RECORD = "ops.nightly_build_inputs"
_GENERATED = {"target", "logs", "dbt_packages", "__pycache__"}
_ENV_VAR_CALL = re.compile(r"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")


def project_files() -> list[Path]:
    """The files dbt reads: dbt_project.yml and everything under dbt_project/ except generated folders."""
    root = PROJECT_ROOT / "dbt_project"
    found = [p for p in root.rglob("*") if p.is_file() and not _GENERATED.intersection(p.relative_to(root).parts[:-1])]
    return [PROJECT_ROOT / "dbt_project.yml", *sorted(found)]


def code_and_settings(build_args: list[str]) -> str:
    """sha256 of the project's files, the dbt versions, the build's arguments with every var, and the
    environment variables the project reads."""
    from rapidtrader.dbt_runner import with_vars

    digest = hashlib.sha256()
    env_names: set[str] = set()
    for path in project_files():
        data = path.read_bytes()
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + data + b"\0")
        env_names.update(_ENV_VAR_CALL.findall(data.decode("utf-8", errors="replace")))
    versions = {name: _version(name) for name in ("dbt-core", "dbt-postgres")}
    settings = {
        "args": with_vars(["build", *build_args]),
        "env": {name: os.environ.get(name) for name in sorted(env_names)},
        "versions": versions,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


_RAW_TABLES = """
select n.nspname, c.relname,
    exists (
        select 1 from pg_attribute as a
        where a.attrelid = c.oid and a.attname = 'loaded_at' and not a.attisdropped
    ),
    exists (
        select 1 from pg_attribute as a
        where a.attrelid = c.oid and a.attname = 'd' and not a.attisdropped
    ) and c.relname = 'bars'
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where n.nspname like 'raw\\_%' and n.nspname not like '%\\_staging' and c.relkind in ('r', 'p')
order by 1, 2
"""


def raw_state(cur) -> list:
    """Per raw table: rows, newest loaded_at and (bars) the bars dated after today in New York."""
    cur.execute(_RAW_TABLES)
    state = []
    for schema, table, has_loaded_at, is_bars in cur.fetchall():
        relation = f'"{schema}"."{table}"'
        newest = "max(loaded_at)::text" if has_loaded_at else "null"
        future = (
            f"(select count(*) from {relation} where d > (now() at time zone 'America/New_York')::date)"  # noqa: S608
            if is_bars
            else "null"
        )
        cur.execute(f"select count(*), {newest}, {future} from {relation}")  # noqa: S608
        state.append([schema, table, *cur.fetchone()])
    return state


_RELATIONS = """
select n.nspname, c.relname, c.relkind, c.oid::bigint, c.relfilenode::bigint
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'f')
    and n.nspname not in ('ops', 'information_schema') and n.nspname not like 'pg\\_%'
order by 1, 2
"""


def relations(cur) -> list:
    """Every table and view outside ops and the catalogs, with its identity and storage."""
    cur.execute(_RELATIONS)
    return [list(r) for r in cur.fetchall()]


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class BuildInputs:
    """What a build is about to read (code, settings and raw data): taken before the build."""

    code_and_settings: str
    raw: str

    @classmethod
    def now(cls, url: DbUrl, build_args: list[str]) -> BuildInputs:
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                raw = _digest(raw_state(cur))
        finally:
            conn.close()
        return cls(code_and_settings(build_args), raw)


def warehouse(url: DbUrl) -> str:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            return _digest(relations(cur))
    finally:
        conn.close()


def last_build(url: DbUrl, inputs: BuildInputs) -> str | None:
    """The run id of the last successful nightly build when it read these same inputs and the warehouse
    is as it left it; None when anything differs (or nothing was recorded)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass(%s)", (RECORD,))
            if cur.fetchone()[0] is None:
                return None
            cur.execute(f"select run_id, code_and_settings, raw, warehouse from {RECORD}")  # noqa: S608
            row = cur.fetchone()
            if row is None or (row[1], row[2]) != (inputs.code_and_settings, inputs.raw):
                return None
            return row[0] if row[3] == _digest(relations(cur)) else None
    finally:
        conn.close()


def remember(url: DbUrl, run_id: str, inputs: BuildInputs) -> None:
    """Record a successful nightly build: the inputs it read and the warehouse it left."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"delete from {RECORD}")  # noqa: S608
            cur.execute(
                f"insert into {RECORD} (run_id, code_and_settings, raw, warehouse) values (%s, %s, %s, %s)",  # noqa: S608
                (run_id, inputs.code_and_settings, inputs.raw, _digest(relations(cur))),
            )
        conn.commit()
    finally:
        conn.close()
