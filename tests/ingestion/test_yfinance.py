"""The yfinance source, offline. Recorded Yahoo v8 chart payloads are served to yfinance itself through a
requests Session whose transport adapter answers from the recordings (yfinance accepts a requests Session
as its HTTP layer), so yfinance's own request building and parsing run, then ours. Expected values are
computed from the recorded JSON, not typed in. One test loads into a real Postgres."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import peewee
import pyarrow as pa
import pytest
import requests
import yfinance as yf
from requests.adapters import BaseAdapter
from yfinance import cache as yf_cache
from yfinance.data import YfData

from ingestion.common import MARKET_SYMBOLS, FetchReport, IngestionError, LoadWindow, run_pipeline
from ingestion.config import YahooSettings
from ingestion.yfinance import NO_DATA
from ingestion.yfinance import yfinance_source as _yfinance_source
from ingestion.yfinance.helpers import (
    YahooDownloader,
    YFRateLimitError,
    actions_from_frame,
    bars_from_frame,
    session_dates,
)
from tests.conftest import count_rows

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "api_samples"
CHARTS = {
    "AAPL_2020_01": "yahoo_v8_chart_AAPL_1d_2020-01-01_2020-01-03.json",
    "AAPL_SPLIT": "yahoo_v8_chart_AAPL_1d_2020-08-31_2020-11-07_split_dividend.json",
    "NVDA": "yahoo_v8_chart_NVDA_1d_2021-02-01_2022-01-31_split.json",
    "MSFT": "yahoo_v8_chart_MSFT_1d_2021-02-01_2022-01-31_dividends.json",
    "QQQ": "yahoo_v8_chart_QQQ_1d_2020-01-01_2020-01-03.json",
}
NY = "America/New_York"
AFTER_ALL = pd.Timestamp("2022-02-02 01:00", tz="UTC")  # every recorded bar is a completed session


def chart(key: str) -> dict:
    return json.loads((SAMPLES / CHARTS[key]).read_text())


def result(payload: dict) -> dict:
    return payload["chart"]["result"][0]


def ny_dates(timestamps: list[int]) -> list[dt.date]:
    return [d.date() for d in pd.to_datetime(timestamps, unit="s", utc=True).tz_convert(NY)]


def span(payload: dict) -> LoadWindow:
    dates = ny_dates(result(payload)["timestamp"])
    return LoadWindow(min(dates), max(dates))


# ---------------------------------------------------------------------------------------------------------
# yfinance's HTTP layer, answered from the recordings
# ---------------------------------------------------------------------------------------------------------


def _slice(payload: dict, start: int, end: int) -> dict:
    """What Yahoo does with period1/period2: only the sessions (and events) inside [start, end)."""
    out = copy.deepcopy(payload)
    res = result(out)
    keep = [i for i, ts in enumerate(res["timestamp"]) if start <= ts < end]
    res["timestamp"] = [res["timestamp"][i] for i in keep]
    quote = res["indicators"]["quote"][0]
    for name in list(quote):
        quote[name] = [quote[name][i] for i in keep]
    for adj in res["indicators"].get("adjclose", []):
        adj["adjclose"] = [adj["adjclose"][i] for i in keep]
    for kind, events in res.get("events", {}).items():
        res["events"][kind] = {k: v for k, v in events.items() if start <= int(v["date"]) < end}
    return out


# Yahoo's answer for an unknown symbol. Not recorded (no such recording exists): built here in Yahoo's
# documented error shape.
UNKNOWN_CHART = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}
UNKNOWN_QUOTE = {"quoteSummary": {"result": None, "error": {"code": "Not Found", "description": "Quote not found"}}}


class RecordedYahoo(BaseAdapter):
    """Transport adapter: chart requests get the recording for the symbol; cookie/crumb requests get a
    harmless answer; unknown symbols get Yahoo's 404."""

    def __init__(self, charts: dict[str, dict]) -> None:
        super().__init__()
        self.charts = charts
        self.chart_requests: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        status, body = 200, b""
        if url.path.startswith("/v8/finance/chart/"):
            symbol = unquote(url.path.rsplit("/", 1)[-1])
            self.chart_requests.append(symbol)
            payload = self.charts.get(symbol)
            if payload is None:
                status, body = 404, json.dumps(UNKNOWN_CHART).encode()
            elif "period1" in params:
                body = json.dumps(_slice(payload, int(params["period1"]), int(params["period2"]))).encode()
            else:
                body = json.dumps(payload).encode()
        elif url.path.endswith("/getcrumb"):
            body = b"recorded-crumb"
        elif "quoteSummary" in url.path:
            status, body = 404, json.dumps(UNKNOWN_QUOTE).encode()
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def recorded_session(charts: dict[str, dict]) -> tuple[requests.Session, RecordedYahoo]:
    adapter = RecordedYahoo(charts)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session, adapter


@pytest.fixture(scope="module", autouse=True)
def private_yfinance_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """yfinance keeps a time-zone and cookie cache on disk; keep the tests' out of the user's."""
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))


@pytest.fixture(autouse=True)
def fresh_yfinance_cache() -> None:
    # yfinance memoises responses for past date ranges in-process; each test brings its own recordings.
    YfData.cache_get.cache_clear()


# No sleeping between batches or before retries: the behaviour under test is the same, only faster.
FAST = YahooSettings(sleep_s=0, backoff_s=0)


def yfinance_source(*args, **kwargs):
    """The real source, with FAST settings unless a test passes its own."""
    kwargs.setdefault("settings", FAST)
    return _yfinance_source(*args, **kwargs)


def fetch_recorded(key: str, symbol: str, window: LoadWindow | None = None) -> pd.DataFrame:
    payload = chart(key)
    session, _ = recorded_session({symbol: payload})
    window = window or span(payload)
    frame = YahooDownloader(session=session)([symbol], window.start, window.end)[symbol]
    assert isinstance(frame, pd.DataFrame), frame
    return frame


# ---------------------------------------------------------------------------------------------------------
# Parsing recorded payloads through yfinance
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "symbol"), [(k, k.split("_")[0]) for k in CHARTS])
def test_recorded_chart_parses_to_exact_bars(key: str, symbol: str) -> None:
    payload = chart(key)
    res = result(payload)
    quote, adj = res["indicators"]["quote"][0], res["indicators"]["adjclose"][0]["adjclose"]
    bars = bars_from_frame(symbol, fetch_recorded(key, symbol)).set_index("d")
    dates = ny_dates(res["timestamp"])
    assert list(bars.index) == dates  # one bar per session, 09:30 New York open -> that session's date
    for i, day in enumerate(dates):
        got = bars.loc[day]
        assert got["open"] == quote["open"][i]
        assert got["high"] == quote["high"][i]
        assert got["low"] == quote["low"][i]
        assert got["close"] == quote["close"][i]
        assert got["adj_close"] == adj[i]
        assert got["volume"] == quote["volume"][i]
    assert set(bars["symbol"]) == {symbol}


@pytest.mark.parametrize(
    ("key", "symbol", "day"), [("NVDA", "NVDA", "2021-07-20"), ("AAPL_SPLIT", "AAPL", "2020-08-31")]
)
def test_four_for_one_splits_become_actions(key: str, symbol: str, day: str) -> None:
    [split] = result(chart(key))["events"]["splits"].values()
    assert split["splitRatio"] == "4:1"
    actions = actions_from_frame(symbol, fetch_recorded(key, symbol))
    splits = actions[actions["action"] == "split"].to_dict("records")
    expected = split["numerator"] / split["denominator"]
    assert splits == [{"symbol": symbol, "d": dt.date.fromisoformat(day), "action": "split", "value": expected}]
    assert expected == 4.0


def test_msft_four_dividends() -> None:
    events = result(chart("MSFT"))["events"]["dividends"].values()
    expected = sorted((ny_dates([e["date"]])[0], e["amount"]) for e in events)
    actions = actions_from_frame("MSFT", fetch_recorded("MSFT", "MSFT"))
    assert len(expected) == 4
    assert list(zip(actions["d"], actions["value"], strict=True)) == expected
    assert set(actions["action"]) == {"dividend"}


def test_aapl_split_and_dividend_together() -> None:
    res = result(chart("AAPL_SPLIT"))
    [dividend] = res["events"]["dividends"].values()
    actions = actions_from_frame("AAPL", fetch_recorded("AAPL_SPLIT", "AAPL"))
    assert actions[["action", "value"]].values.tolist() == [["split", 4.0], ["dividend", dividend["amount"]]]
    assert actions["d"].iloc[-1] == ny_dates([dividend["date"]])[0]


def test_session_dates_from_raw_open_timestamps() -> None:
    """Raw chart timestamps are 09:30 New York (13:30 or 14:30 UTC): the session date is the New York date,
    in summer and in winter. A downloader handing over raw timestamps gets the same dates as yfinance's."""
    stamps = result(chart("NVDA"))["timestamp"]
    index = pd.to_datetime(stamps, unit="s", utc=True)
    assert list(session_dates(index)) == ny_dates(stamps)
    assert {t.hour for t in index} == {13, 14}  # both DST offsets are in the recording


# ---------------------------------------------------------------------------------------------------------
# yfinance's process-wide state under the downloader's threads
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture()
def cold_tz_cache(tmp_path: Path) -> Iterator[None]:
    """yfinance's time-zone cache as a fresh process has it: not created yet, in an empty folder. Restored
    afterwards, so later tests keep the module's cache."""
    manager, db_manager, proxy = yf_cache._TzCacheManager, yf_cache._TzDBManager, yf_cache.tz_db_proxy
    saved = (manager._tz_cache, db_manager._db, db_manager._cache_dir, proxy.obj)
    manager._tz_cache, db_manager._db, db_manager._cache_dir = None, None, str(tmp_path)
    yield
    if db_manager._db is not None:
        db_manager._db.close()
    manager._tz_cache, db_manager._db, db_manager._cache_dir = saved[:3]
    if saved[3] is not None:
        proxy.initialize(saved[3])


def test_first_yfinance_call_from_worker_threads_loses_no_ticker(
    cold_tz_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI's e2e job makes the process's first yfinance call through the downloader's threads. yfinance 1.7
    creates its time-zone cache on first use without a lock (cache._TzCache.initialise); sqlite answers two
    threads creating it at once with "database is locked", and that ticker's `history` raised: one recorded
    symbol's bars went missing (301 bars of 553). Here the overlap is forced, not left to timing: the first
    creation is held open long enough for every worker to arrive, and one that starts meanwhile fails as
    sqlite failed it. The downloader must create the cache before it fans out."""
    real_initialise = yf_cache._TzCache.initialise
    guard = threading.Lock()
    inside: list[int] = []
    overlapped: list[int] = []

    def initialise_as_sqlite_would(self: yf_cache._TzCache) -> None:
        with guard:
            inside.append(threading.get_ident())
            first = len(inside) == 1
        try:
            if not first:
                overlapped.append(threading.get_ident())
                raise peewee.OperationalError("database is locked")
            time.sleep(0.3)  # the workers start within milliseconds: all of them arrive in this window
            real_initialise(self)
        finally:
            with guard:
                inside.remove(threading.get_ident())

    monkeypatch.setattr(yf_cache._TzCache, "initialise", initialise_as_sqlite_would)
    session, _ = recorded_session(RECORDED)
    answers = YahooDownloader(session=session, threads=4)(list(RECORDED), WIDE.start, WIDE.end)
    assert {t: type(a).__name__ for t, a in answers.items()} == dict.fromkeys(RECORDED, "DataFrame")
    assert {t: len(a) for t, a in answers.items()} == {t: len(result(p)["timestamp"]) for t, p in RECORDED.items()}
    assert overlapped == []


# ---------------------------------------------------------------------------------------------------------
# The source
# ---------------------------------------------------------------------------------------------------------


def windows_fn(window: LoadWindow):
    return lambda symbols: {s: window for s in symbols}


def collect(source, name: str) -> pa.Table | None:
    tables = list(source.resources[name])
    return pa.concat_tables(tables) if tables else None


RECORDED = {"AAPL": chart("AAPL_SPLIT"), "NVDA": chart("NVDA"), "MSFT": chart("MSFT")}
WIDE = LoadWindow(dt.date(2020, 8, 1), dt.date(2022, 1, 31))


def test_source_through_yfinance_end_to_end() -> None:
    session, adapter = recorded_session(RECORDED)
    report = FetchReport("yfinance")
    source = yfinance_source(
        ["AAPL", "NVDA", "MSFT", "ZZZZ"],
        windows_fn(WIDE),
        report,
        downloader=YahooDownloader(session=session),
        clock=lambda: AFTER_ALL,
    )
    assert report.requested == ["AAPL", "NVDA", "MSFT", "ZZZZ", *MARKET_SYMBOLS]
    bars = collect(source, "bars").to_pandas()
    expected_rows = {s: len(result(p)["timestamp"]) for s, p in RECORDED.items()}
    assert bars.groupby("symbol").size().to_dict() == expected_rows
    assert (bars["dup_seq"] == 0).all()
    actions = collect(source, "corporate_actions").to_pandas()
    assert actions.groupby(["symbol", "action"]).size().to_dict() == {
        ("AAPL", "dividend"): 1,
        ("AAPL", "split"): 1,
        ("MSFT", "dividend"): 4,
        ("NVDA", "split"): 1,
    }
    # Symbols Yahoo has nothing for (here: everything not recorded) fail with a reason, and are skipped.
    assert sorted(report.failures) == sorted(["ZZZZ", *MARKET_SYMBOLS])
    assert all(reason.startswith(NO_DATA) for reason in report.failures.values())
    assert report.loaded_symbols == set(RECORDED)
    assert {"AAPL", "NVDA", "MSFT"} <= set(adapter.chart_requests)


class ScriptedDownloader:
    """Wraps the real downloader (recorded session) and lets a test change what comes back."""

    def __init__(self, charts: dict[str, dict] | None = None) -> None:
        session, _ = recorded_session(charts if charts is not None else RECORDED)
        self.real = YahooDownloader(session=session)
        self.calls: list[list[str]] = []
        self.rate_limited_calls = 0
        self.always_limited: set[str] = set()
        self.empty: set[str] = set()

    def __call__(self, tickers: list[str], start: dt.date, end: dt.date) -> dict[str, Any]:
        self.calls.append(list(tickers))
        if self.rate_limited_calls:
            self.rate_limited_calls -= 1
            raise YFRateLimitError()
        answer = self.real([t for t in tickers if t not in self.empty | self.always_limited], start, end)
        answer.update({t: pd.DataFrame() for t in self.empty if t in tickers})
        answer.update({t: YFRateLimitError() for t in self.always_limited if t in tickers})
        return answer


def test_empty_frame_fails_that_symbol_with_a_clear_reason() -> None:
    downloader = ScriptedDownloader()
    downloader.empty = {"MSFT"}
    report = FetchReport("yfinance")
    source = yfinance_source(["AAPL", "MSFT"], windows_fn(WIDE), report, downloader=downloader, clock=lambda: AFTER_ALL)
    assert set(collect(source, "bars").column("symbol").to_pylist()) == {"AAPL"}
    assert report.failures["MSFT"] == NO_DATA
    assert "MSFT" not in report.loaded_symbols


class BrokenChart(RecordedYahoo):
    """Recorded Yahoo whose price request for some symbols dies on the wire (the time-zone probe still
    answers), as a reset connection or a timeout would."""

    def __init__(self, charts: dict[str, dict], broken: set[str]) -> None:
        super().__init__(charts)
        self.broken = broken

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url)
        if unquote(url.path.rsplit("/", 1)[-1]) in self.broken and "period1" in parse_qs(url.query):
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        return super().send(request, **kwargs)


def test_an_error_yfinance_would_hide_reaches_the_report() -> None:
    """yfinance's `history` logs an error and returns an empty frame unless asked to raise; read as an empty
    answer, a dropped connection read as "delisted, wrong ticker or Yahoo unreachable" with nothing to tell
    them apart. The downloader asks yfinance to raise, so the report carries the cause."""
    session = requests.Session()
    session.mount("https://", BrokenChart(RECORDED, broken={"NVDA"}))
    report = FetchReport("yfinance")
    source = yfinance_source(
        ["AAPL", "NVDA"],
        windows_fn(WIDE),
        report,
        downloader=YahooDownloader(session=session),
        clock=lambda: AFTER_ALL,
    )
    assert set(collect(source, "bars").column("symbol").to_pylist()) == {"AAPL"}
    assert report.failures["NVDA"] == f"{NO_DATA} (ConnectionError: Connection reset by peer)"
    assert "NVDA" not in report.loaded_symbols


def test_nothing_for_any_symbol_is_fatal() -> None:
    downloader = ScriptedDownloader(charts={})
    with pytest.raises(IngestionError, match="Yahoo returned nothing for any symbol"):
        yfinance_source(["AAPL", "MSFT"], windows_fn(WIDE), FetchReport("yfinance"), downloader=downloader)
    # Raised while building the source (first batch is fetched eagerly), before dlt starts.
    assert len(downloader.calls) == 1


def test_rate_limit_backs_off_and_retries() -> None:
    downloader = ScriptedDownloader()
    downloader.rate_limited_calls = 1
    downloader.always_limited = {"NVDA"}
    report = FetchReport("yfinance")
    source = yfinance_source(
        ["AAPL", "NVDA"],
        windows_fn(WIDE),
        report,
        downloader=downloader,
        clock=lambda: AFTER_ALL,
        settings=dataclasses.replace(FAST, max_attempts=3),
    )
    assert set(collect(source, "bars").column("symbol").to_pylist()) == {"AAPL"}
    # Call 1: whole batch rate-limited; call 2: answered except NVDA; call 3: NVDA alone, still limited.
    assert len(downloader.calls) == 3 and downloader.calls[2] == ["NVDA"]
    assert "rate limited by Yahoo after 3 attempts" in report.failures["NVDA"]
    assert "AAPL" in report.loaded_symbols


def test_todays_open_bar_is_dropped() -> None:
    last = span(chart("NVDA")).end  # 2022-01-31
    during_session = pd.Timestamp(f"{last} 15:00", tz="UTC")  # 10:00 in New York, market open
    report = FetchReport("yfinance")
    source = yfinance_source(
        ["NVDA"],
        windows_fn(LoadWindow(last - dt.timedelta(days=7), last)),
        report,
        downloader=ScriptedDownloader(),
        clock=lambda: during_session,
    )
    dates = collect(source, "bars").column("d").to_pylist()
    assert last not in dates
    assert max(dates) == max(d for d in ny_dates(result(chart("NVDA"))["timestamp"]) if d < last)


def test_batches_and_yahoo_ticker_spelling() -> None:
    one_day = chart("AAPL_2020_01")
    downloader = ScriptedDownloader(
        charts={"AAPL": one_day, "BRK-B": one_day, **dict.fromkeys(MARKET_SYMBOLS, one_day)}
    )
    report = FetchReport("yfinance")
    source = yfinance_source(
        ["AAPL", "BRK.B"],
        windows_fn(span(one_day)),
        report,
        downloader=downloader,
        clock=lambda: AFTER_ALL,
        settings=dataclasses.replace(FAST, batch_size=5),
    )
    bars = collect(source, "bars")
    assert all(len(call) <= 5 for call in downloader.calls) and len(downloader.calls) == 3
    assert "BRK-B" in downloader.calls[0]  # Yahoo's spelling on the wire ...
    assert "BRK.B" in set(bars.column("symbol").to_pylist())  # ... ours in the table and the report
    assert report.loaded_symbols == {"AAPL", "BRK.B", *MARKET_SYMBOLS}


# ---------------------------------------------------------------------------------------------------------
# End to end into Postgres
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_pipeline_into_postgres_is_idempotent(ingest_db: str) -> None:
    expected_bars = sum(len(result(p)["timestamp"]) for p in RECORDED.values())
    counts = []
    for _ in range(2):
        report = FetchReport("yfinance")
        source = yfinance_source(
            ["AAPL", "NVDA", "MSFT"],
            windows_fn(WIDE),
            report,
            downloader=ScriptedDownloader(),
            clock=lambda: AFTER_ALL,
        )
        rows = run_pipeline(source, credentials=ingest_db, dataset_name="raw_yfinance", pipeline_name="rt_test_yf")
        # A recorded symbol that failed says why here, instead of only as missing bars below.
        assert {s: report.failures[s] for s in RECORDED if s in report.failures} == {}
        assert rows.get("bars") == expected_bars
        counts.append(
            (count_rows(ingest_db, "raw_yfinance.bars"), count_rows(ingest_db, "raw_yfinance.corporate_actions"))
        )
    assert counts[0] == counts[1] == (expected_bars, 7)


def test_symbols_that_are_not_tickers_never_reach_a_yahoo_url() -> None:
    session, adapter = recorded_session(RECORDED)
    report = FetchReport("yfinance")
    hostile = ["A?X=1&Y=2", "A/../../B", "X" * 10_000, "A\x00B"]
    source = yfinance_source(
        ["AAPL", *hostile],
        windows_fn(WIDE),
        report,
        downloader=YahooDownloader(session=session),
        clock=lambda: AFTER_ALL,
    )
    assert set(collect(source, "bars").column("symbol").to_pylist()) == {"AAPL"}
    assert not [s for s in adapter.chart_requests if s not in {"AAPL", *MARKET_SYMBOLS}]
    bad = {f for f in report.failures if "not a ticker" in report.failures[f]}
    assert bad == {"A?X=1&Y=2", "A/../../B", "X" * 32 + "...(10000 chars)", "A\\x00B"}
    # The downloader applies the same rule on its own: the ticker goes into the URL path.
    answer = YahooDownloader(session=session)(["A/../../B"], WIDE.start, WIDE.end)["A/../../B"]
    assert isinstance(answer, IngestionError) and "not a ticker" in str(answer)
    assert "A/../../B" not in adapter.chart_requests and ".." not in "".join(adapter.chart_requests)
