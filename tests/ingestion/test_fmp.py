"""The FMP source, offline: recorded FMP payloads through the real parser, a local stub FMP server (plain
http.server on 127.0.0.1) through dlt's real HTTP client, and one load into a real Postgres.

Expected values are computed from the recorded JSON, not typed in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pyarrow as pa
import pytest

from ingestion.common import MARKET_SYMBOLS, FetchReport, IngestionError, LoadWindow, run_pipeline
from ingestion.config import FmpSettings
from ingestion.fmp import fmp_source as _fmp_source
from ingestion.fmp.helpers import (
    ADJUSTED_PATH,
    CONSTITUENTS_PATH,
    DIVIDENDS_PATH,
    FMP_SECTOR_TO_GICS,
    HISTORICAL_CONSTITUENTS_PATH,
    PRICE_PATH,
    SPLITS_PATH,
    SYMBOL_CHANGE_PATH,
    RateLimiter,
    actions_frame,
    bars_frame,
    constituents_frame,
    date_chunks,
    membership_events_frame,
    symbol_changes_frame,
)
from rapidtrader.db import DbUrl
from tests.conftest import count_rows, query

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "api_samples"
STABLE_AAPL = "fmp_stable_historical-price-eod-full_AAPL_2023-01-03_2023-01-10.json"
V3_AAPL = "fmp_v3_historical-price-full_AAPL_2023-01-03_2023-01-10.json"
V3_AAPL_5Y = "fmp_v3_historical-price-full_AAPL_2016-06-02_2021-06-01.json"
# Constructed in FMP's documented shape (no recording exists; see the fixtures' README).
HISTORY = "fmp_stable_historical-sp500-constituent_constructed.json"
SYMBOL_CHANGES = "fmp_stable_symbol-change_constructed.json"
CONSTITUENT_FILES = [
    "fmp_v3_dowjones_constituent_2023-10-16.json",
    "fmp_stable_dowjones-constituent_2025-09-23.json",
]
GICS_SECTORS = {
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
}
KEY = "test-key-123"
WINDOW = LoadWindow(dt.date(2023, 1, 1), dt.date(2023, 1, 10))
# After the close of 2023-01-10: every recorded bar is a completed session.
AFTER_CLOSE = pd.Timestamp("2023-01-11 01:00", tz="UTC")


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ---------------------------------------------------------------------------------------------------------
# Parsing recorded payloads
# ---------------------------------------------------------------------------------------------------------


def test_stable_price_payload_parses_exactly() -> None:
    payload = load(STABLE_AAPL)
    frame = bars_frame("AAPL", payload)
    assert list(frame["d"]) == sorted(d(r["date"]) for r in payload)  # newest-first input, oldest-first out
    by_date = frame.set_index("d")
    for row in payload:
        got = by_date.loc[d(row["date"])]
        assert (got["open"], got["high"], got["low"], got["close"]) == (
            row["open"],
            row["high"],
            row["low"],
            row["close"],
        )
        assert got["volume"] == row["volume"]
    assert frame["adj_close"].isna().all()  # the stable /full endpoint has no adjClose
    assert set(frame["symbol"]) == {"AAPL"}


def test_v3_price_payload_parses_and_agrees_with_stable() -> None:
    v3 = load(V3_AAPL)
    frame = bars_frame("AAPL", v3).set_index("d")
    for row in v3["historical"]:
        got = frame.loc[d(row["date"])]
        assert got["close"] == row["close"]
        assert got["adj_close"] == row["adjClose"]
        assert got["volume"] == row["volume"]
    stable = bars_frame("AAPL", load(STABLE_AAPL)).set_index("d")
    # Same sessions from both shapes, same prices (volumes were revised between the two recordings).
    assert list(stable.index) == list(frame.index)
    pd.testing.assert_frame_equal(stable[["open", "high", "low", "close"]], frame[["open", "high", "low", "close"]])


def test_v3_five_year_payload_with_e_notation_volumes() -> None:
    raw_text = (SAMPLES / V3_AAPL_5Y).read_text()
    assert "6.3890796E7" in raw_text  # the recording really uses E-notation
    payload = json.loads(raw_text)
    frame = bars_frame("AAPL", payload)
    assert len(frame) == len(payload["historical"]) == 1258
    assert frame["d"].is_monotonic_increasing
    newest = payload["historical"][0]
    last = frame.iloc[-1]
    assert last["d"] == d(newest["date"])
    assert last["volume"] == 63_890_796.0 == float(newest["volume"])
    assert (frame["volume"] % 1 == 0).all()


def test_window_and_cutoff_are_applied() -> None:
    payload = load(V3_AAPL_5Y)
    window = LoadWindow(d("2021-05-03"), d("2021-06-30"))
    frame = bars_frame("AAPL", payload, window=window, cutoff=d("2021-05-28"))
    assert frame["d"].min() >= window.start
    assert frame["d"].max() == d("2021-05-28")
    expected = [d(r["date"]) for r in payload["historical"] if "2021-05-03" <= r["date"] <= "2021-05-28"]
    assert sorted(expected) == list(frame["d"])


def _dividend_adjusted_from_v3(v3: dict) -> list[dict]:
    """`/stable/historical-price-eod/dividend-adjusted` in FMP's documented shape ({symbol, date, adjOpen,
    adjHigh, adjLow, adjClose, volume}); no recording exists, so it is built from the v3 recording's
    adjClose."""
    return [
        {"symbol": v3["symbol"], "date": r["date"], "adjClose": r["adjClose"], "volume": r["volume"]}
        for r in v3["historical"]
    ]


def test_dividend_adjusted_payload_fills_adj_close() -> None:
    v3 = load(V3_AAPL)
    frame = bars_frame("AAPL", load(STABLE_AAPL), adjusted_payload=_dividend_adjusted_from_v3(v3)).set_index("d")
    for row in v3["historical"]:
        assert frame.loc[d(row["date"]), "adj_close"] == row["adjClose"]


@pytest.mark.parametrize("name", CONSTITUENT_FILES)
def test_constituent_payload_maps_fields_and_sectors(name: str) -> None:
    payload = load(name)
    frame = constituents_frame(payload).set_index("symbol")
    assert len(frame) == len(payload) == 30
    for row in payload:
        got = frame.loc[row["symbol"]]
        assert got["name"] == row["name"]
        assert got["sector"] == FMP_SECTOR_TO_GICS.get(row["sector"], row["sector"])
        assert got["sub_industry"] == row["subSector"]
        assert got["date_added"] == row["dateFirstAdded"]
    assert set(frame["sector"]) <= GICS_SECTORS
    # FMP's own labels are really in the recording, and come out as GICS names.
    fmp_labels = {r["sector"] for r in payload}
    assert {"Healthcare", "Technology", "Financial Services"} <= fmp_labels
    assert {"Health Care", "Information Technology", "Financials"} <= set(frame["sector"])


def test_unknown_sector_label_is_kept() -> None:
    frame = constituents_frame([{"symbol": "x", "name": "X", "sector": "Conglomerates", "subSector": None}])
    assert frame.loc[0, "sector"] == "Conglomerates"
    assert frame.loc[0, "symbol"] == "X"


def test_split_and_dividend_payloads_both_shapes() -> None:
    # No recording of /stable/splits or /stable/dividends exists: these are FMP's documented shapes, with
    # the real AAPL (2020-08-31) and NVDA (2021-07-20) 4:1 splits and AAPL's $0.23 dividend of 2022-11-04.
    stable_splits = [{"symbol": "AAPL", "date": "2020-08-31", "numerator": 4, "denominator": 1}]
    v3_splits = {
        "symbol": "NVDA",
        "historical": [{"date": "2021-07-20", "label": "July 20, 21", "numerator": 4.0, "denominator": 1.0}],
    }
    stable_divs = [
        {
            "symbol": "AAPL",
            "date": "2022-11-04",
            "recordDate": "2022-11-07",
            "paymentDate": "2022-11-10",
            "declarationDate": "2022-10-27",
            "adjDividend": 0.23,
            "dividend": 0.23,
            "yield": 0.6,
            "frequency": "Quarterly",
        },
    ]
    v3_divs = {
        "symbol": "X",
        "historical": [{"date": "2019-02-08", "label": "x", "adjDividend": 0.1825, "dividend": 0.73}],
    }
    aapl = actions_frame("AAPL", stable_splits, stable_divs)
    assert aapl.to_dict("records") == [
        {"symbol": "AAPL", "d": d("2020-08-31"), "action": "split", "value": 4.0},
        {"symbol": "AAPL", "d": d("2022-11-04"), "action": "dividend", "value": 0.23},
    ]
    nvda = actions_frame("NVDA", v3_splits, None)
    assert nvda.to_dict("records") == [{"symbol": "NVDA", "d": d("2021-07-20"), "action": "split", "value": 4.0}]
    # The split-adjusted amount is preferred: FMP's prices are split-adjusted too.
    assert actions_frame("X", None, v3_divs)["value"].tolist() == [0.1825]
    assert actions_frame("X", None, [{"date": "2019-02-08", "dividend": 0.73}])["value"].tolist() == [0.73]
    windowed = actions_frame("AAPL", stable_splits, stable_divs, window=LoadWindow(d("2022-01-01"), d("2022-12-31")))
    assert windowed["action"].tolist() == ["dividend"]


def test_date_chunks_cover_window_without_overlap() -> None:
    window = LoadWindow(d("2010-01-01"), d("2023-01-10"))
    pieces = date_chunks(window, 1800)
    assert pieces[0][0] == window.start and pieces[-1][1] == window.end
    for (_, end), (start, _) in zip(pieces, pieces[1:], strict=False):
        assert start == end + dt.timedelta(days=1)
    assert all((e - s).days < 1800 for s, e in pieces)


def test_rate_limiter_spaces_calls_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(300, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert slept == pytest.approx([0.2, 0.2, 0.2])


# ---------------------------------------------------------------------------------------------------------
# A local FMP: recorded payloads served over real HTTP
# ---------------------------------------------------------------------------------------------------------

Reply = tuple[int, dict[str, str], Any]


class StubFmp:
    """Answers like FMP from the recordings. `script[(path, symbol)]` queues replies for one route (the last
    one repeats); `hits` records every request (path, params)."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str | None], list[Reply]] = {}
        self.hits: list[tuple[str, dict[str, str]]] = []
        self.splits: dict[str, list[dict]] = {}
        self.dividends: dict[str, list[dict]] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                stub.hits.append((url.path, params))
                status, headers, body = stub.reply(url.path, params)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def reply(self, path: str, params: dict[str, str]) -> Reply:
        if params.get("apikey") != KEY:
            return 401, {}, {"Error Message": "Invalid API KEY. Feel free to create a Free API Key."}
        queue = self.script.get((path, params.get("symbol")))
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        symbol = params.get("symbol", "")
        if path == PRICE_PATH:
            # Shape-only stand-in for symbols other than AAPL: AAPL's recorded rows under their name.
            return 200, {}, [{**r, "symbol": symbol} for r in load(STABLE_AAPL)]
        if path == ADJUSTED_PATH:
            return 200, {}, [{**r, "symbol": symbol} for r in _dividend_adjusted_from_v3(load(V3_AAPL))]
        if path == SPLITS_PATH:
            return 200, {}, self.splits.get(symbol, [])
        if path == DIVIDENDS_PATH:
            return 200, {}, self.dividends.get(symbol, [])
        if path == CONSTITUENTS_PATH:
            return 200, {}, load("fmp_stable_dowjones-constituent_2025-09-23.json")
        if path == HISTORICAL_CONSTITUENTS_PATH:
            return 200, {}, load(HISTORY)
        if path == SYMBOL_CHANGE_PATH:
            return 200, {}, load(SYMBOL_CHANGES)
        return 404, {}, {"Error Message": f"unknown path {path}"}

    def count(self, path: str, symbol: str | None = None) -> int:
        return sum(1 for p, q in self.hits if p == path and (symbol is None or q.get("symbol") == symbol))


@pytest.fixture
def stub() -> Iterator[StubFmp]:
    server = StubFmp()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


# No pacing, few quick retries: the behaviour under test is the same, only faster.
FAST = FmpSettings(max_calls_per_min=0, max_attempts=3, backoff_factor=0.01, max_retry_delay_s=2, timeout_s=5)


def fmp_source(*args, **kwargs):
    """The real source, with FAST settings unless a test passes its own."""
    kwargs.setdefault("settings", FAST)
    return _fmp_source(*args, **kwargs)


def windows_fn(window: LoadWindow = WINDOW):
    return lambda symbols: {s: window for s in symbols}


def collect(source, name: str) -> pa.Table | None:
    tables = list(source.resources[name])
    return pa.concat_tables(tables) if tables else None


def ingestion_error(exc: BaseException) -> IngestionError | None:
    """dlt wraps what a resource raises (PipelineStepFailed / ResourceExtractionError); find ours."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IngestionError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def test_missing_api_key_is_fatal() -> None:
    for key in (None, ""):
        with pytest.raises(IngestionError, match="RT_FMP_API_KEY"):
            fmp_source(["AAPL"], windows_fn(), FetchReport("fmp"), api_key=key)


def test_universe_from_constituents_plus_market_symbols(stub: StubFmp) -> None:
    report = FetchReport("fmp")
    asked: list[list[str]] = []

    def windows(symbols: list[str]) -> dict[str, LoadWindow]:
        asked.append(list(symbols))
        return {s: WINDOW for s in symbols}

    source = fmp_source(None, windows, report, api_key=KEY, base_url=stub.url, clock=lambda: AFTER_CLOSE)
    dow = [r["symbol"] for r in load("fmp_stable_dowjones-constituent_2025-09-23.json")]
    assert report.requested == dow + MARKET_SYMBOLS
    assert asked == [report.requested]

    listing = collect(source, "constituents").to_pandas()
    assert len(listing) == 30 and set(listing["sector"]) <= GICS_SECTORS
    bars = collect(source, "bars").to_pandas()
    assert set(bars["symbol"]) == set(report.requested)
    assert len(bars) == 6 * len(report.requested)
    assert bars["adj_close"].notna().all()  # filled from the dividend-adjusted endpoint
    assert report.failures == {} and report.coverage == 1.0
    assert stub.count(CONSTITUENTS_PATH) == 1


def test_429_with_retry_after_is_retried(stub: StubFmp) -> None:
    stub.script[(PRICE_PATH, "AAPL")] = [
        (429, {"Retry-After": "1"}, {"Error Message": "Limit Reach"}),
        (200, {}, load(STABLE_AAPL)),
    ]
    report = FetchReport("fmp")
    source = fmp_source(
        ["AAPL"],
        windows_fn(),
        report,
        api_key=KEY,
        base_url=stub.url,
        include_constituents=False,
        clock=lambda: AFTER_CLOSE,
    )
    started = time.monotonic()
    bars = collect(source, "bars")
    assert time.monotonic() - started >= 0.9  # it waited as told by Retry-After
    assert stub.count(PRICE_PATH, "AAPL") == 2
    assert bars.num_rows == 6 and report.loaded_symbols == {"AAPL"} and report.failures == {}


def test_500_repeatedly_fails_that_symbol_only(stub: StubFmp) -> None:
    stub.script[(PRICE_PATH, "BAD")] = [(500, {}, {"Error Message": "internal error"})]
    report = FetchReport("fmp")
    source = fmp_source(
        ["AAPL", "BAD", "MSFT"],
        windows_fn(),
        report,
        api_key=KEY,
        base_url=stub.url,
        include_constituents=False,
        clock=lambda: AFTER_CLOSE,
    )
    bars = collect(source, "bars").to_pandas()
    assert set(bars["symbol"]) == {"AAPL", "MSFT"}
    assert "HTTP 500" in report.failures["BAD"]
    assert stub.count(PRICE_PATH, "BAD") == 3  # RT_FMP_MAX_ATTEMPTS
    assert report.loaded_symbols == {"AAPL", "MSFT"}
    assert report.coverage == pytest.approx(2 / 3)


def test_rejected_key_is_fatal(stub: StubFmp) -> None:
    # With the constituent list: the first call, made before dlt starts, raises plainly.
    with pytest.raises(IngestionError, match="rejected the API key"):
        fmp_source(None, windows_fn(), FetchReport("fmp"), api_key="wrong", base_url=stub.url)
    # Without it: the bars resource raises, and dlt wraps it.
    source = fmp_source(
        ["AAPL", "MSFT"],
        windows_fn(),
        FetchReport("fmp"),
        api_key="wrong",
        base_url=stub.url,
        include_constituents=False,
    )
    with pytest.raises(Exception) as caught:
        collect(source, "bars")
    error = ingestion_error(caught.value)
    assert error is not None and "HTTP 401" in str(error) and "RT_FMP_API_KEY" in str(error)
    assert stub.count(PRICE_PATH) == 1  # not one more request after the key was refused


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_provider_is_fatal_and_key_is_never_quoted() -> None:
    once = dataclasses.replace(FAST, max_attempts=1)
    url = _closed_port_url()
    with pytest.raises(IngestionError, match="unreachable") as caught:
        fmp_source(None, windows_fn(), FetchReport("fmp"), api_key=KEY, base_url=url, settings=once)
    assert KEY not in str(caught.value)

    report = FetchReport("fmp")
    source = fmp_source(
        ["AAPL", "MSFT", "NVDA", "AMZN"],
        windows_fn(),
        report,
        api_key=KEY,
        base_url=url,
        include_constituents=False,
        settings=once,
    )
    with pytest.raises(Exception) as caught_run:
        collect(source, "bars")
    error = ingestion_error(caught_run.value)
    assert error is not None and "every symbol tried" in str(error)
    assert sorted(report.failures) == ["AAPL", "MSFT", "NVDA"]  # stopped after 3, not 4 x retries
    assert all(KEY not in reason for reason in report.failures.values())


def test_todays_open_bar_is_dropped(stub: StubFmp) -> None:
    during_session = pd.Timestamp("2023-01-10 15:00", tz="UTC")  # 10:00 in New York, market open
    report = FetchReport("fmp")
    source = fmp_source(
        ["AAPL"],
        windows_fn(),
        report,
        api_key=KEY,
        base_url=stub.url,
        include_constituents=False,
        clock=lambda: during_session,
    )
    dates = collect(source, "bars").column("d").to_pylist()
    assert max(dates) == d("2023-01-09")
    assert d("2023-01-10") not in dates and len(dates) == 5


def test_corporate_actions_from_stub(stub: StubFmp) -> None:
    stub.splits["AAPL"] = [{"symbol": "AAPL", "date": "2020-08-31", "numerator": 4, "denominator": 1}]
    stub.dividends["AAPL"] = [{"symbol": "AAPL", "date": "2022-11-04", "adjDividend": 0.23, "dividend": 0.23}]
    stub.script[(DIVIDENDS_PATH, "MSFT")] = [(500, {}, {"Error Message": "internal error"})]
    report = FetchReport("fmp")
    window = LoadWindow(d("2020-01-01"), d("2023-01-10"))
    source = fmp_source(
        ["AAPL", "MSFT"],
        windows_fn(window),
        report,
        api_key=KEY,
        base_url=stub.url,
        include_constituents=False,
        clock=lambda: AFTER_CLOSE,
    )
    actions = collect(source, "corporate_actions").to_pylist()
    assert [(a["symbol"], a["d"], a["action"], a["value"]) for a in actions] == [
        ("AAPL", d("2020-08-31"), "split", 4.0),
        ("AAPL", d("2022-11-04"), "dividend", 0.23),
    ]
    assert report.failures["MSFT"].startswith("corporate actions: HTTP 500")


# ---------------------------------------------------------------------------------------------------------
# End to end into Postgres
# ---------------------------------------------------------------------------------------------------------


TABLES_LOADED = ("bars", "corporate_actions", "constituents", "membership_events", "ticker_changes")


@pytest.mark.e2e
def test_pipeline_into_postgres_is_idempotent(stub: StubFmp, ingest_db: str) -> None:
    stub.splits["AAPL"] = [{"symbol": "AAPL", "date": "2020-08-31", "numerator": 4, "denominator": 1}]
    window = LoadWindow(d("2020-01-01"), d("2023-01-10"))
    counts = []
    for _ in range(2):
        report = FetchReport("fmp")
        source = fmp_source(
            ["AAPL", "MSFT"],
            windows_fn(window),
            report,
            api_key=KEY,
            base_url=stub.url,
            clock=lambda: AFTER_CLOSE,
        )
        rows = run_pipeline(source, credentials=ingest_db, dataset_name="raw_fmp", pipeline_name="rt_test_fmp")
        assert rows.get("bars") == 12
        counts.append(tuple(count_rows(ingest_db, f"raw_fmp.{t}") for t in TABLES_LOADED))
    # 3 membership records are 5 events (one has no removal); 3 ticker changes.
    assert counts[0] == counts[1] == (12, 1, 30, 5, 3)


# ---------------------------------------------------------------------------------------------------------
# Hostile input (issue 12): the key never leaks, a non-ticker is never sent, no new bar is not coverage
# ---------------------------------------------------------------------------------------------------------


def _all_text(report: FetchReport, error: BaseException | None, caplog: pytest.LogCaptureFixture) -> str:
    parts = [*report.failures.values(), *report.reject_examples, *(r.getMessage() for r in caplog.records)]
    seen = error
    while seen is not None:
        parts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def test_key_quoted_in_error_bodies_never_reaches_a_message(stub: StubFmp, caplog: pytest.LogCaptureFixture) -> None:
    quoted = f"{stub.url}{PRICE_PATH}?symbol=BAD&apikey={KEY}"
    stub.script[(PRICE_PATH, "BAD")] = [(500, {}, {"Error Message": f"upstream failed for {quoted}"})]
    stub.script[(PRICE_PATH, "TXT")] = [(200, {}, f"<html>gateway error at {quoted}</html>".encode())]
    stub.script[(PRICE_PATH, "MSG")] = [(200, {}, {"Error Message": f"Limit reached for {quoted}"})]
    stub.script[(ADJUSTED_PATH, "AAPL")] = [(403, {}, {"Error Message": f"Special endpoint: {quoted}"})]
    report = FetchReport("fmp")
    source = fmp_source(
        ["AAPL", "BAD", "TXT", "MSG"],
        windows_fn(),
        report,
        api_key=KEY,
        base_url=stub.url,
        include_constituents=False,
        clock=lambda: AFTER_CLOSE,
    )
    with caplog.at_level("DEBUG"):
        collect(source, "bars")
    assert set(report.failures) == {"BAD", "TXT", "MSG"}
    assert "apikey=***" in report.failures["BAD"]  # the body is shown, the key is not
    assert KEY not in _all_text(report, None, caplog)

    # A 200 whose error object quotes the key: fatal, and still not quoted.
    stub.script[(CONSTITUENTS_PATH, None)] = [(200, {}, {"Error Message": f"Invalid API KEY {KEY} for {quoted}"})]
    with pytest.raises(IngestionError) as caught:
        fmp_source(None, windows_fn(), FetchReport("fmp"), api_key=KEY, base_url=stub.url)
    assert "rejected the API key" in str(caught.value)
    assert KEY not in _all_text(FetchReport("fmp"), caught.value, caplog)


def test_symbols_that_are_not_tickers_are_never_sent(stub: StubFmp) -> None:
    report = FetchReport("fmp")
    source = fmp_source(
        ["AAPL", "A?X=1&Y=2", "A/../../B", "X" * 10_000],
        windows_fn(),
        report,
        api_key=KEY,
        base_url=stub.url,
        include_constituents=False,
        clock=lambda: AFTER_CLOSE,
    )
    bars = collect(source, "bars").to_pandas()
    assert set(bars["symbol"]) == {"AAPL"}
    assert {q.get("symbol") for _, q in stub.hits} == {"AAPL"}
    assert sorted(report.failures) == sorted(["A?X=1&Y=2", "A/../../B", "X" * 32 + "...(10000 chars)"])
    assert all("not a ticker" in reason for reason in report.failures.values())
    assert report.coverage == pytest.approx(1 / 4)


@pytest.mark.e2e
def test_a_symbol_with_no_new_bar_is_not_covered(stub: StubFmp, ingest_db: str) -> None:
    """The vendor answers, but with nothing newer than the symbol's last clean bar: that symbol is not
    up to date, and coverage says so (it used to count as loaded)."""
    from ingestion.config import IngestConfig
    from ingestion.pipeline import ingest, summarize

    config = IngestConfig(fmp_api_key=KEY, fmp=dataclasses.replace(FAST, base_url=stub.url))
    newest = max(d(r["date"]) for r in load(STABLE_AAPL))  # 2023-01-10: all the stub ever has
    result = ingest(
        "fmp",
        credentials=ingest_db,
        config=config,
        symbols=["AAPL", "MSFT"],
        last_clean={"AAPL": newest, "MSFT": newest - dt.timedelta(days=5)},
    )
    assert result.report.loaded_symbols == {"MSFT"}  # MSFT got bars after its last clean one
    assert result.report.failures["AAPL"].startswith(f"no new bar after {newest}, its last clean bar")
    code, text = summarize(result, 0.95)
    assert code == 1 and "coverage 50.0% of 2 symbols" in text


# ---------------------------------------------------------------------------------------------------------
# S&P 500 membership changes and ticker changes (constructed payloads in FMP's documented shape)
# ---------------------------------------------------------------------------------------------------------


def test_membership_payloads_map_each_record_to_its_events() -> None:
    history = load(HISTORY)
    events = membership_events_frame(history)
    expected = []
    for i, r in enumerate(history, start=1):
        expected.append((r["symbol"], r["date"], "added", i))
        if r["removedTicker"]:
            expected.append((r["removedTicker"], r["date"], "removed", i))
    assert list(events[["symbol", "date", "action", "_row"]].itertuples(index=False, name=None)) == expected
    assert ("DDOG", "2025-07-08", "added", 1) in expected and ("JNPR", "2025-07-08", "removed", 1) in expected
    # An absent removal written as null or blanks is no event either.
    assert len(membership_events_frame([{**history[0], "removedTicker": None}])) == 1
    assert len(membership_events_frame([{**history[0], "removedTicker": "  "}])) == 1

    changes = load(SYMBOL_CHANGES)
    frame = symbol_changes_frame(changes)
    assert list(frame[["old_symbol", "new_symbol", "date"]].itertuples(index=False, name=None)) == [
        (r["oldSymbol"], r["newSymbol"], r["date"]) for r in changes
    ]


def test_membership_and_ticker_changes_pass_the_door(stub: StubFmp) -> None:
    history = load(HISTORY)
    stub.script[(HISTORICAL_CONSTITUENTS_PATH, None)] = [
        (
            200,
            {},
            [
                *history,
                {**history[1], "date": "July 9, 2025"},  # a worded date is not guessed
                {**history[1], "symbol": "A?X=1", "removedTicker": None, "date": "2025-01-02"},
                history[0],  # the same record twice: its two events are repeats
            ],
        )
    ]
    changes = load(SYMBOL_CHANGES)
    stub.script[(SYMBOL_CHANGE_PATH, None)] = [
        (
            200,
            {},
            [*changes, changes[1], {"date": "2020-01-02", "companyName": "x", "oldSymbol": "ABC", "newSymbol": "abc"}],
        )
    ]
    report = FetchReport("fmp")
    source = fmp_source(["AAPL"], windows_fn(), report, api_key=KEY, base_url=stub.url, clock=lambda: AFTER_CLOSE)
    events = collect(source, "membership_events").to_pylist()
    assert [(e["symbol"], e["d"], e["action"]) for e in events] == [
        ("DDOG", d("2025-07-08"), "added"),
        ("JNPR", d("2025-07-08"), "removed"),
        ("DASH", d("2025-03-24"), "added"),
        ("BWA", d("2025-03-24"), "removed"),
        ("HONA", d("2026-06-29"), "added"),
    ]
    assert {e["source_ref"] for e in events} == {"fmp:/stable/historical-sp500-constituent"}
    renames = collect(source, "ticker_changes").to_pylist()
    assert [(c["old_symbol"], c["new_symbol"], c["d"]) for c in renames] == [
        (c["oldSymbol"], c["newSymbol"], d(c["date"])) for c in changes
    ]
    rejects = collect(source, "rejects").to_pandas()
    got = sorted(zip(rejects["kind"], rejects["reason"], rejects["row_number"], strict=True))
    assert got == [
        ("membership_events", "duplicate_key", 6),
        ("membership_events", "duplicate_key", 6),
        ("membership_events", "invalid_date", 4),
        ("membership_events", "invalid_date", 4),  # both events of the record with the worded date
        ("membership_events", "invalid_symbol", 5),
        ("ticker_changes", "duplicate_key", 4),
        ("ticker_changes", "invalid_ticker_change", 5),
    ]
    dup = rejects[(rejects["kind"] == "ticker_changes") & (rejects["reason"] == "duplicate_key")].iloc[0]
    assert dup["detail"] == "FB -> META is already given (fmp:/stable/symbol-change row 2); the first is kept"
    assert report.reject_line("raw_fmp").startswith("rejected 7 row(s) at the door")
    # The whole list is asked for, not FMP's default page.
    assert [q.get("limit") for p, q in stub.hits if p == SYMBOL_CHANGE_PATH] == ["100000"]


@pytest.mark.e2e
def test_membership_endpoints_an_fmp_plan_lacks_keep_the_stored_rows(stub: StubFmp, ingest_db: str) -> None:
    """The key works (the list and the bars load) but the plan does not cover the history endpoint, and
    the symbol-change endpoint fails after retries: the run goes on, the rows stored by an earlier run stay,
    and the summary says so in one line each, without the key."""

    def run() -> FetchReport:
        report = FetchReport("fmp")
        source = fmp_source(["AAPL"], windows_fn(), report, api_key=KEY, base_url=stub.url, clock=lambda: AFTER_CLOSE)
        run_pipeline(source, credentials=ingest_db, dataset_name="raw_fmp", pipeline_name="rt_test_fmp")
        return report

    def stored() -> tuple[list, list]:
        return (
            query(DbUrl(ingest_db), "select symbol, d, action from raw_fmp.membership_events order by 1, 2, 3"),
            query(DbUrl(ingest_db), "select old_symbol, new_symbol, d from raw_fmp.ticker_changes order by 1, 2"),
        )

    first = run()
    assert first.notes == []
    before = stored()
    assert len(before[0]) == 5 and len(before[1]) == 3

    stub.script[(HISTORICAL_CONSTITUENTS_PATH, None)] = [(403, {}, {"Error Message": f"Restricted Endpoint {KEY}"})]
    stub.script[(SYMBOL_CHANGE_PATH, None)] = [(500, {}, {"Error Message": "internal error"})]
    second = run()
    assert stored() == before
    assert second.loaded_symbols == {"AAPL"}
    assert len(second.notes) == 2
    assert second.notes[0].startswith("S&P 500 membership changes not loaded from FMP (FMP rejected the API key")
    assert second.notes[1].startswith("ticker changes not loaded from FMP (HTTP 500")
    assert all(note.endswith("the stored rows are kept") and KEY not in note for note in second.notes)

    # An empty answer never replaces the stored rows either.
    stub.script[(HISTORICAL_CONSTITUENTS_PATH, None)] = [(200, {}, [])]
    third = run()
    assert stored()[0] == before[0]
    assert "FMP sent no rows" in third.notes[0]
