"""What the file source remembers of each bar file it read, so that an unchanged file is not read again.

A full read of a bar file gives three things to a load: the symbols it offers and, per symbol, its newest
date (the report and the `--days` anchor), the rows inside the load windows (compared with raw and
written when they differ), and the rows the door refuses (`rejects`). The windows move forward with the
data, so on a normal night an old file's rows in the windows are the last few days of each of its symbols.
A record keeps exactly that: per symbol the first and last date and, for the last TAIL_DAYS calendar days
before that symbol's last date, the rows as the door accepted them (every value, file order). A load then
takes an unchanged file's rows in its windows from the record and everything after that is the full
read's path: the same rows, compared with raw in the same scope, written when they differ. The record
describes the file, not raw: raw rows deleted or changed by other means are still found by that
comparison (and a window that moved back before the record's tail reads the file again).

A record stands in for a file only when all of these hold; otherwise the file is read in full:
- the file's content has the recorded SHA-256 (read every night; the file's name is the record's key, so
  a renamed file is a new one), whatever its size or modification time say;
- it was made by the same reader: the same ingestion code (every .py file of the `ingestion` package) and
  the same pandas, pyarrow and numpy (READER), so a changed door or contract reads every file again;
- the door refused none of the file's rows (a file with refused rows is re-checked every run, so its
  rejects are written as a full read writes them);
- none of its dates is after today (a future-dated row becomes real when its day comes);
- for every symbol with a load window, the window starts inside the record's tail or misses the file's
  dates altogether.
Files that are not bar files (corporate actions, constituents, membership, ticker changes) are small and
always read. Records live in `<dataset>.file_records`, one row per bar file (the Arrow tables as IPC
bytes); they are written when a file was read whose record is missing or different, and a file no longer
in the folder loses its record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.door import BarKeys, bar_values

# Days of each symbol's rows a record keeps, counted back from the symbol's last date in the file. The
# nightly window re-reads RT_REREAD_DAYS (5) calendar days before the last clean bar.
TAIL_DAYS = 31
TABLE = "file_records"
# The values a record keeps: a full read's rows without the stamps of the load (source_ref, loaded_at).
STAMPS = ("source_ref", "loaded_at")


@lru_cache(maxsize=1)
def reader_version() -> str:
    """A fingerprint of what turns a file into rows: the ingestion package's code and the libraries that
    parse (a change to the door, the contract or a reader makes every record stale)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"pandas {pd.__version__}; pyarrow {pa.__version__}; numpy {np.__version__}".encode())
    return digest.hexdigest()


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class FileRecord:
    """One bar file as a full read saw it: `symbols` (symbol, first, last, tail_from) and `tail` (every
    accepted row dated tail_from or later for its symbol, in file order, without the load stamps)."""

    name: str
    sha256: str
    reader: str
    symbols: pd.DataFrame
    tail: pd.DataFrame

    def last_dates(self) -> dict[str, dt.date]:
        return dict(zip(self.symbols["symbol"], self.symbols["last"], strict=True))

    def stands_in(self, windows: dict, today: dt.date) -> bool:
        """Whether the record gives every row of the file inside `windows` (symbol -> LoadWindow) and the
        file's newest real date per symbol (nothing dated after `today`)."""
        if self.symbols.empty:
            return True
        if max(self.symbols["last"]) > today:
            return False
        for symbol, first, last, tail_from in self.symbols.itertuples(index=False):
            window = windows.get(symbol)
            if window is None or last < window.start or first > window.end:
                continue
            if window.start < tail_from:
                return False
        return True

    def rows(self, source_ref: str, loaded_at: pd.Timestamp, keep: np.ndarray) -> pd.DataFrame:
        """The tail rows in `keep`, stamped as a full read of the file stamps them."""
        out = self.tail[keep].reset_index(drop=True)
        out.insert(len(out.columns), "source_ref", source_ref)
        out.insert(len(out.columns), "loaded_at", loaded_at)
        return out


def make_record(name: str, sha256: str, checked: BarKeys, loaded_at: pd.Timestamp) -> FileRecord | None:
    """The record of a file just read, or None when the door refused any of its rows."""
    if checked.rejected.any():
        return None
    keys = checked.keys
    if keys.empty:
        symbols = pd.DataFrame({"symbol": [], "first": [], "last": [], "tail_from": []})
        tail_mask = np.zeros(0, dtype=bool)
    else:
        day_codes, days = pd.factorize(keys["d"])
        ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)[day_codes]
        by_symbol = pd.DataFrame({"symbol": keys["symbol"].to_numpy(), "o": ordinals}).groupby("symbol", sort=True)["o"]
        first, last = by_symbol.min(), by_symbol.max()
        tail_from = last - TAIL_DAYS
        tail_mask = ordinals >= tail_from.reindex(keys["symbol"]).to_numpy()
        symbols = pd.DataFrame(
            {
                "symbol": first.index.astype(str),
                "first": [dt.date.fromordinal(int(o)) for o in first],
                "last": [dt.date.fromordinal(int(o)) for o in last],
                "tail_from": [dt.date.fromordinal(int(o)) for o in tail_from],
            }
        )
    tail = bar_values(checked, "", loaded_at, keep=tail_mask).drop(columns=list(STAMPS))
    return FileRecord(name, sha256, reader_version(), symbols, tail)


def _to_ipc(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes) -> pd.DataFrame:
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    return table.to_pandas(date_as_object=True)


def _exists(cur, schema: str) -> bool:
    cur.execute("select to_regclass(%s)", (f"{schema}.{TABLE}",))
    return cur.fetchone()[0] is not None


def load_records(credentials: str, schema: str) -> dict[str, FileRecord]:
    """The stored records by file name (none when the table does not exist yet)."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    try:
        with conn.cursor() as cur:
            if not _exists(cur, schema):
                return {}
            cur.execute(f"select file_name, sha256, reader, symbols, tail from {schema}.{TABLE}")  # noqa: S608
            return {
                name: FileRecord(name, sha, reader, _from_ipc(bytes(symbols)), _from_ipc(bytes(tail)))
                for name, sha, reader, symbols, tail in cur.fetchall()
            }
    finally:
        conn.close()


def _identity(record: FileRecord) -> tuple[str, str]:
    return record.sha256, record.reader


def save_records(
    credentials: str,
    schema: str,
    stored: dict[str, FileRecord],
    made: list[FileRecord],
    read: set[str],
    present: set[str],
) -> None:
    """Write the records of the files just read that differ from the stored ones, and forget the files no
    longer in the folder or read without a record (their rows were refused), in one transaction; nothing
    when nothing differs."""
    made_names = {r.name for r in made}
    fresh = [
        r
        for r in made
        if r.name not in stored or (stored[r.name].sha256, stored[r.name].reader) != (r.sha256, r.reader)
    ]
    forget = sorted(n for n in stored if n not in present or (n in read and n not in made_names))
    if not fresh and not forget:
        return
    import psycopg2

    conn = psycopg2.connect(credentials)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"create table if not exists {schema}.{TABLE} (file_name text primary key, sha256 text not null, "
                "reader text not null, symbols bytea not null, tail bytea not null, recorded_at timestamptz not null)"
            )
            names = forget + [r.name for r in fresh]
            cur.execute(f"delete from {schema}.{TABLE} where file_name = any(%s)", (names,))  # noqa: S608
            for r in fresh:
                cur.execute(
                    f"insert into {schema}.{TABLE} (file_name, sha256, reader, symbols, tail, recorded_at) "  # noqa: S608
                    "values (%s, %s, %s, %s, %s, now())",
                    (r.name, r.sha256, r.reader, _to_ipc(r.symbols), _to_ipc(r.tail)),
                )
    finally:
        conn.close()
