"""Check the data providers: `python scripts/test_apis.py [--verbose] [--timeout 15]`.

For FMP (`RT_FMP_BASE_URL`, default https://financialmodelingprep.com/stable, key RT_FMP_API_KEY) and
Yahoo (`RT_YAHOO_BASE_URL`, default https://query2.finance.yahoo.com) it makes one small request each and
reports reachability, HTTP status, latency and whether the answer has the expected shape, with a
one-sentence diagnosis: offline, unauthorised, rate limited, provider error or garbage. Each call is also
an api.log line. Exit 1 when a provider that is configured fails; FMP without a key is SKIPPED.
`--verbose` shows the start of each answer with secrets masked: an FMP error quotes the request URL, key
and all.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from rapidtrader import logs, metrics_run  # noqa: E402
from rapidtrader.redact import guard_std_streams, redact  # noqa: E402
from rapidtrader.settings import fail_fast, get_settings  # noqa: E402


@dataclass
class Probe:
    provider: str
    status: str  # OK / WARN / FAIL / SKIP
    http: int | None
    latency_s: float | None
    diagnosis: str
    body: str = ""


def diagnose(
    provider: str, response: requests.Response | None, error: Exception | None, shape_ok: bool
) -> tuple[str, str]:
    key_hint = "check RT_FMP_API_KEY (and your FMP plan)" if provider == "fmp" else "Yahoo blocks some networks"
    if error is not None:
        if isinstance(error, requests.Timeout):
            return "FAIL", f"{provider} did not answer in time: the network or the provider is slow, retry later"
        return "FAIL", (
            f"{provider} unreachable ({type(error).__name__}): this machine looks offline or behind a proxy; "
            "check the network (HTTPS_PROXY) and DNS"
        )
    assert response is not None
    code = response.status_code
    if code in (401, 403):
        return "FAIL", f"{provider} refused the request (HTTP {code}): unauthorised, {key_hint}"
    if code == 429:
        after = response.headers.get("Retry-After")
        return (
            "FAIL",
            f"{provider} rate limited (HTTP 429){f', retry after {after} s' if after else ''}: slow down or wait",
        )
    if code >= 500:
        return "FAIL", f"{provider} server error (HTTP {code}): the provider is having trouble, retry later"
    if code >= 400:
        return "FAIL", f"{provider} answered HTTP {code}: the endpoint or parameters are wrong (check the base URL)"
    if not shape_ok:
        return "FAIL", f"{provider} answered 200 with unexpected content (garbage or an error page): not usable data"
    return "OK", f"{provider} reachable and authorised"


def probe(provider: str, url: str, params: dict, check_shape, timeout: float, slow_s: float) -> Probe:
    started = time.monotonic()
    response, error = None, None
    try:
        response = requests.get(url, params=params, timeout=timeout, headers={"User-Agent": "Mozilla/5.0 rapidtrader"})
    except requests.RequestException as exc:
        error = exc
    latency = time.monotonic() - started
    shape_ok = False
    if response is not None and response.status_code == 200:
        try:
            shape_ok = bool(check_shape(response.json()))
        except ValueError:
            shape_ok = False
    status, text = diagnose(provider, response, error, shape_ok)
    if status == "OK" and latency > slow_s:
        status, text = "WARN", f"{provider} answered but slowly ({latency:.1f} s > {slow_s:g} s)"
    body = redact(response.text[:300]) if response is not None else ""
    return Probe(provider, status, response.status_code if response is not None else None, latency, text, body)


def fmp_shape(payload) -> bool:
    return isinstance(payload, list) and bool(payload) and isinstance(payload[0], dict) and "symbol" in payload[0]


def yahoo_shape(payload) -> bool:
    try:
        return bool(payload["chart"]["result"][0]["timestamp"])
    except (KeyError, IndexError, TypeError):
        return False


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="show URLs and the start of each answer")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    logs.setup_logging()
    guard_std_streams()
    metrics_run.install_api_tracing()
    s = get_settings()
    fmp_base, yahoo_base, key, slow = s.fmp_base_url, s.yahoo_base_url, s.fmp_api_key, s.alert_api_latency_s
    probes = []
    with logs.log_context(job="test_apis"):
        if key:
            probes.append(
                probe("fmp", f"{fmp_base}/quote", {"symbol": "SPY", "apikey": key}, fmp_shape, args.timeout, slow)
            )
        else:
            probes.append(
                Probe("fmp", "SKIP", None, None, "RT_FMP_API_KEY is not set: FMP not checked (set it to use FMP)")
            )
        probes.append(
            probe(
                "yahoo",
                f"{yahoo_base}/v8/finance/chart/SPY",
                {"range": "5d", "interval": "1d"},
                yahoo_shape,
                args.timeout,
                slow,
            )
        )
    for p in probes:
        latency = f"{p.latency_s * 1000:.0f} ms" if p.latency_s is not None else "-"
        print(f"{p.status:<5} {p.provider:<6} http={p.http or '-'} latency={latency}  {p.diagnosis}")
        if args.verbose:
            base = fmp_base if p.provider == "fmp" else yahoo_base
            print(f"      base URL {redact(base)}")
            if p.body:
                print(f"      answer: {redact(p.body[:200])!r}")
    return 1 if any(p.status == "FAIL" for p in probes) else 0


if __name__ == "__main__":
    sys.exit(main())
