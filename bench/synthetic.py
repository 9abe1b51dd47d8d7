"""Deterministic synthetic bar set for benchmarks: N symbols x Y years of NYSE sessions plus SPY.

    python -m bench.synthetic --out DIR [--symbols 503] [--years 10] [--seed 7] [--end 2025-12-31]

Writes DIR/bars.parquet (symbol, date, open, high, low, close, volume) and
DIR/sp500_constituents_synthetic.csv (symbol, name, sector), the layout the file source reads.
Prices follow a geometric random walk with a sector factor; OHLC are always consistent.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SECTORS = [
    "Information Technology",
    "Health Care",
    "Financials",
    "Consumer Discretionary",
    "Communication Services",
    "Industrials",
    "Consumer Staples",
    "Energy",
    "Utilities",
    "Real Estate",
    "Materials",
]


def sessions(years: int, end: str) -> pd.DatetimeIndex:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="1990-01-01", end="2030-12-31")
    days = cal.sessions_in_range(cal.first_session, end)
    return days[-252 * years :]


def generate(
    n_symbols: int = 503, years: int = 10, seed: int = 7, end: str = "2025-12-31"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bars for n_symbols equities plus SPY, and their constituent list."""
    rng = np.random.default_rng(seed)
    days = sessions(years, end)
    n_days = len(days)
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    sectors = [SECTORS[i % len(SECTORS)] for i in range(n_symbols)]
    market = rng.normal(0.0003, 0.011, n_days)
    sector_moves = {s: rng.normal(0, 0.006, n_days) for s in SECTORS}
    frames = []
    for symbol, sector in [*zip(symbols, sectors, strict=True), ("SPY", None)]:
        beta = 1.0 if sector is None else rng.uniform(0.6, 1.4)
        idio = 0.0 if sector is None else rng.uniform(0.008, 0.02)
        rets = beta * market + (0 if sector is None else sector_moves[sector]) + rng.normal(0, idio or 1e-9, n_days)
        close = rng.uniform(20, 300) * np.exp(np.cumsum(rets))
        prev = np.concatenate([[close[0]], close[:-1]])
        open_ = prev * np.exp(rng.normal(0, 0.004, n_days))
        spread = np.abs(rng.normal(0, 0.008, n_days)) * close
        high = np.maximum(open_, close) + spread * rng.uniform(0, 1, n_days)
        low = np.minimum(open_, close) - spread * rng.uniform(0, 1, n_days)
        volume = rng.lognormal(14, 0.5, n_days).round()
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": days.date,
                    "open": open_.round(4),
                    "high": high.round(4),
                    "low": np.maximum(low, 0.01).round(4),
                    "close": close.round(4),
                    "volume": volume.astype("int64"),
                }
            )
        )
    bars = pd.concat(frames, ignore_index=True)
    # Rounding can push open/close a hair outside high/low: widen the range, never the prices.
    bars["high"] = bars[["open", "high", "close"]].max(axis=1)
    bars["low"] = bars[["open", "low", "close"]].min(axis=1)
    constituents = pd.DataFrame({"symbol": symbols, "name": [f"Synthetic {s}" for s in symbols], "sector": sectors})
    return bars, constituents


def write(out: Path, **kwargs) -> tuple[Path, int]:
    out.mkdir(parents=True, exist_ok=True)
    bars, constituents = generate(**kwargs)
    bars.to_parquet(out / "bars.parquet", index=False)
    constituents.to_csv(out / "sp500_constituents_synthetic.csv", index=False)
    return out, len(bars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--symbols", type=int, default=503)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", default="2025-12-31")
    args = parser.parse_args(argv)
    out, n = write(args.out, n_symbols=args.symbols, years=args.years, seed=args.seed, end=args.end)
    print(f"wrote {n:,} bars to {out}/bars.parquet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
