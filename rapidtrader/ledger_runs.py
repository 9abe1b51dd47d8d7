"""The settings of one ledger run, as the ledger functions read them (udf.rt_ledger_advance_v2's p_runs).

One definition of which setting feeds which knob of the ledger: dbt gets it as the var `rt_ledger_run`
(rapidtrader.dbt_runner adds it to every command, after a caller's own --vars, so a backtest's --capital
reaches it), the benchmarks and the parameter sweep build their runs with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# ledger knob -> the var (setting) it comes from, and its type
KNOBS: dict[str, tuple[str, type]] = {
    "capital": ("rt_start_capital", float),
    "atr_stop_k": ("rt_atr_stop_k", float),
    "enable_stop": ("rt_enable_atr_stop", bool),
    "cooldown_days": ("rt_cooldown_days_on_stop", int),
    "pct_per_trade": ("rt_pct_per_trade", float),
    "daily_risk_cap": ("rt_daily_risk_cap", float),
    "max_sector": ("rt_max_exposure_per_sector", float),
    "universe_mode": ("rt_universe_mode", str),
    "slippage_bps": ("rt_slippage_bps", float),
    "commission_min": ("rt_commission_min", float),
    "commission_per_share": ("rt_commission_per_share", float),
    "commission_max_pct": ("rt_commission_max_pct", float),
    "max_participation": ("rt_max_participation", float),
    "delist_sessions": ("rt_delist_sessions", int),
}


def _typed(value: Any, kind: type) -> Any:
    if kind is bool:
        return str(value).strip().lower() in ("1", "true")
    return kind(value)


def ledger_run(dbt_vars: Mapping[str, Any], run_id: int = 1) -> dict[str, Any]:
    """One run's settings from dbt vars (rt_* names, as rapidtrader.settings.dbt_vars() gives them)."""
    return {"run_id": run_id, **{knob: _typed(dbt_vars[var], kind) for knob, (var, kind) in KNOBS.items()}}


def runs_json(runs: list[dict[str, Any]]) -> str:
    """The JSON array the ledger functions take; numbers as Python prints floats (3.0, 0.05)."""
    return json.dumps(runs)


# The settings that decide a run's signals and market gate (read by the signal rules and market_state,
# not by the ledger function): a parameter sweep decides them per run inside its pass.
SIGNAL_SETTINGS: tuple[str, ...] = (
    "RT_RSI_BUY",
    "RT_RSI_SELL",
    "RT_ENABLE_SIGNAL_CONFIRM",
    "RT_CONFIRM_WINDOW",
    "RT_CONFIRM_MIN_COUNT",
    "RT_SMA_FAST",
    "RT_SMA_SLOW",
    "RT_SMA_CONFIRM_DAYS",
    "RT_MARKET_FILTER_ENABLE",
)

# Every setting a sweep may vary: the signal settings and every ledger knob's setting.
SWEEP_SETTINGS: tuple[str, ...] = SIGNAL_SETTINGS + tuple(var.upper() for var, _ in KNOBS.values())
