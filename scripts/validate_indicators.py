"""Validate indicator calculation accuracy: `python scripts/validate_indicators.py [--sample 10] [--symbols A,B]`.

Recomputes SMA 20/50/100/200, RSI 14 and ATR 14 with TA-Lib from bars_daily's adjusted OHLC for a random
sample of symbols (seeded, so a re-run checks the same ones) and compares with indicators_daily: every
value within --tolerance (1e-9 relative) and NULL exactly where TA-Lib has NaN. Lists each mismatch;
exit 1 on any mismatch, or when indicators_daily is not built.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from rapidtrader.db import DatabaseError, connect, resolve_db_url  # noqa: E402
from rapidtrader.settings import fail_fast  # noqa: E402

COLUMNS = ["sma_20", "sma_50", "sma_100", "sma_200", "rsi_14", "atr_14"]


def reference(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
    import talib

    out = {f"sma_{n}": talib.SMA(close, timeperiod=n) for n in (20, 50, 100, 200)}
    out["rsi_14"] = talib.RSI(close, timeperiod=14)
    out["atr_14"] = talib.ATR(high, low, close, timeperiod=14)
    return out


def compare_symbol(cur, symbol: str, tol: float) -> tuple[int, list[str]]:
    """(values compared, mismatch descriptions) for one symbol."""
    cur.execute(
        f"""
        select b.d, b.adj_high, b.adj_low, b.adj_close, {", ".join("i." + c for c in COLUMNS)}
        from marts.bars_daily as b
        left join marts.indicators_daily as i on i.symbol = b.symbol and i.d = b.d
        where b.symbol = %s
        order by b.d
        """,
        (symbol,),
    )
    rows = cur.fetchall()
    if not rows:
        return 0, [f"{symbol}: no bars"]
    arr = np.array([[float("nan") if v is None else float(v) for v in r[1:4]] for r in rows])
    ref = reference(arr[:, 0], arr[:, 1], arr[:, 2])
    problems, compared = [], 0
    for j, col in enumerate(COLUMNS):
        for i, row in enumerate(rows):
            ours, theirs = row[4 + j], ref[col][i]
            if math.isnan(theirs):
                if ours is not None:
                    problems.append(f"{symbol} {row[0]} {col}: {ours} where TA-Lib has no value (warm-up)")
            elif ours is None:
                problems.append(f"{symbol} {row[0]} {col}: NULL where TA-Lib has {theirs:.10g}")
            else:
                compared += 1
                if abs(float(ours) - theirs) > tol * max(abs(theirs), 1e-12):
                    problems.append(f"{symbol} {row[0]} {col}: {float(ours):.12g} vs TA-Lib {theirs:.12g}")
    return compared, problems


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=10, help="number of random symbols (default 10)")
    parser.add_argument("--symbols", help="comma-separated symbols instead of a random sample")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative tolerance (1e-9)")
    args = parser.parse_args(argv)
    try:
        import talib  # noqa: F401
    except ImportError:
        print("error: TA-Lib is not installed; `pip install -e '.[dev]'` installs ta-lib", file=sys.stderr)
        return 1
    try:
        conn = connect(resolve_db_url())
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with conn.cursor() as cur:
        cur.execute("select to_regclass('marts.indicators_daily') is not null")
        if not cur.fetchone()[0]:
            print(
                "error: indicators_daily is not built; run "
                "`python -m rapidtrader.dbt_runner build --select +indicators_daily` first",
                file=sys.stderr,
            )
            return 1
        if args.symbols:
            symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
        else:
            cur.execute("select distinct symbol from marts.indicators_daily order by 1")
            everything = [r[0] for r in cur.fetchall()]
            symbols = sorted(random.Random(args.seed).sample(everything, min(args.sample, len(everything))))
        total, problems = 0, []
        for symbol in symbols:
            compared, issues = compare_symbol(cur, symbol, args.tolerance)
            total += compared
            problems += issues
            print(f"{'OK ' if not issues else 'BAD'} {symbol:<6} {compared} values, {len(issues)} mismatches")
    conn.close()
    for p in problems[:50]:
        print(f"  {p}")
    if len(problems) > 50:
        print(f"  ... {len(problems) - 50} more")
    verdict = "OK" if not problems else "FAIL"
    print(f"result: {verdict}: {total} values in {len(symbols)} symbols, {len(problems)} mismatches")
    return 1 if problems or not symbols else 0


if __name__ == "__main__":
    sys.exit(main())
