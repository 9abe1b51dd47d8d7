"""Per-run figures the alerts read: duration of each job, peak memory, rows, and every provider call.

Provider calls are traced where they leave the process: `requests` (dlt's REST client, FMP) and
`curl_cffi` (yfinance) are wrapped once, so the vendor packages need no code of their own to be measured.
Each call becomes an api.log line and, at the end of the job step that made it, an `ops.api_calls` row;
the step's totals go to `ops.run_metrics`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from rapidtrader import logs
from rapidtrader.redact import redact
from rapidtrader.settings import SettingsError, get_settings


@dataclass(frozen=True)
class ApiCall:
    seq: int
    job: str
    provider: str
    method: str
    endpoint: str
    status: int | None
    latency_s: float
    error: str | None
    called_at: float


_lock = threading.Lock()
_calls: list[ApiCall] = []
_installed = False


def _base_urls() -> tuple[tuple[str, str], ...]:
    """The configured provider base URLs; none when the settings are invalid (the provider is then told by
    its host: tracing must work, and never fail, whatever the caller's environment holds)."""
    try:
        s = get_settings()
    except SettingsError:
        return ()
    return (("fmp", s.fmp_base_url), ("yahoo", s.yahoo_base_url))


def provider_of(url: str) -> str:
    """fmp / yahoo by host or by the configured base URLs (tests point those at a local server)."""
    for provider, base in _base_urls():
        if base and url.startswith(base.rstrip("/")):
            return provider
    host = (urlsplit(url).hostname or "").lower()
    if "financialmodelingprep" in host:
        return "fmp"
    if "yahoo" in host:
        return "yahoo"
    return host or "unknown"


def endpoint_of(url: str) -> str:
    """Scheme, host and path: never the query string, which carries API keys."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def record_call(method: str, url: str, status: int | None, latency_s: float, error: str | None = None) -> ApiCall:
    job = logs._job.get()
    error = redact(error)  # exception texts quote the full URL, key included
    provider = provider_of(url)
    endpoint = endpoint_of(url)
    with _lock:
        call = ApiCall(len(_calls), job, provider, method, endpoint, status, latency_s, error, time.time())
        _calls.append(call)
    logs.log_api_call(provider, method, endpoint, status, latency_s, error)
    return call


def _record_quietly(method: str, url: str, status: int | None, latency_s: float, error: str | None = None) -> None:
    """record_call for the wrapped clients: measuring a call must never make the call itself fail."""
    try:
        record_call(method, url, status, latency_s, error)
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):
            logs.get_logger("api").warning("could not record a provider call: %s", exc)


def calls_since(seq: int) -> list[ApiCall]:
    with _lock:
        return [c for c in _calls if c.seq >= seq]


def next_seq() -> int:
    with _lock:
        return len(_calls)


def _wrap(cls, method_name: str, get_url, get_method) -> None:
    original = getattr(cls, method_name)
    if getattr(original, "_rt_traced", False):
        return

    def traced(self, *args, **kwargs):
        started = time.monotonic()
        url = get_url(args, kwargs)
        method = get_method(args, kwargs)
        try:
            response = original(self, *args, **kwargs)
        except Exception as exc:
            _record_quietly(method, url, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:300])
            raise
        _record_quietly(method, url, getattr(response, "status_code", None), time.monotonic() - started)
        return response

    traced._rt_traced = True  # type: ignore[attr-defined]
    setattr(cls, method_name, traced)


def install_api_tracing() -> None:
    """Wrap the HTTP clients once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from requests.adapters import HTTPAdapter

        _wrap(
            HTTPAdapter,
            "send",
            lambda a, k: getattr(a[0] if a else k.get("request"), "url", "") or "",
            lambda a, k: getattr(a[0] if a else k.get("request"), "method", "GET") or "GET",
        )
    except ImportError:  # pragma: no cover - requests is a dependency
        pass
    try:
        from curl_cffi.requests import Session as CurlSession

        _wrap(
            CurlSession,
            "request",
            lambda a, k: str(a[1] if len(a) > 1 else k.get("url", "")),
            lambda a, k: str(a[0] if a else k.get("method", "GET")),
        )
    except ImportError:
        pass


def summarize_calls(calls: list[ApiCall]) -> dict:
    """The figures run_metrics stores and the alerts read."""
    latencies = [c.latency_s for c in calls]
    return {
        "api_calls": len(calls),
        "api_errors": sum(1 for c in calls if c.error or (c.status or 0) >= 400),
        "api_rate_limited": sum(1 for c in calls if c.status == 429),
        "api_latency_avg_ms": round(1000 * sum(latencies) / len(latencies), 1) if latencies else None,
        "api_latency_max_ms": round(1000 * max(latencies), 1) if latencies else None,
    }


def write_step_metrics(
    cur,
    *,
    run_id: str,
    job_name: str,
    status: str,
    duration_s: float,
    peak_rss_mb: float,
    rows: int | None,
    calls: list[ApiCall],
    log_errors: int,
) -> None:
    """One ops.run_metrics row for the step, one ops.api_calls row per call the step itself made."""
    summary = summarize_calls(calls)
    cur.execute(
        """
        insert into ops.run_metrics (
            run_id, job_name, status, duration_s, peak_rss_mb, rows, api_calls, api_errors,
            api_rate_limited, api_latency_avg_ms, api_latency_max_ms, log_errors
        ) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            run_id,
            job_name,
            status,
            duration_s,
            peak_rss_mb,
            rows,
            summary["api_calls"],
            summary["api_errors"],
            summary["api_rate_limited"],
            summary["api_latency_avg_ms"],
            summary["api_latency_max_ms"],
            log_errors,
        ),
    )
    own = [c for c in calls if c.job == job_name]
    if own:
        cur.executemany(
            """
            insert into ops.api_calls (
                run_id, job_name, provider, method, endpoint, status, latency_ms, error, called_at
            )
            values (%s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s))
            """,
            [
                (
                    run_id,
                    job_name,
                    c.provider,
                    c.method,
                    c.endpoint,
                    c.status,
                    round(c.latency_s * 1000, 1),
                    c.error,
                    c.called_at,
                )
                for c in own
            ],
        )
