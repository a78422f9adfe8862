"""Trace configs, event hooks and OpenTelemetry, against the fake server with faults on.

OpenTelemetry's global providers can be set once per process, so these tests
build their own SDK providers and point the library's ``_telemetry.TELEMETRY``
at them (the global state is left alone); the global path and the path
without opentelemetry installed run in subprocesses.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import aiohttp
import attrs
import orjson
import pytest
from aiohttp import web
from loopback_support import serve_app
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from accutics_async import (
    AccuticsClient,
    ConfigurationError,
    DecodeError,
    PageEvent,
    PauseEvent,
    RateLimitError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
    TransportError,
    UnsafeURLError,
    _retry,
    _telemetry,
)
from accutics_async.testing import FakeAccuticsServer

TOKEN = "eyJhbGciOiJIUzI1NiJ9.observability-test-token.c2VjcmV0LXNpZ25hdHVyZQ"


class Clock:
    """Retry backoff and the 429 gate take no real time: sleeps move this clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_retry, "_sleep", fake.sleep)
    monkeypatch.setattr(_retry, "_clock", fake)
    return fake


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def points(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def texts(self) -> list[str]:
        """Every string exported: span names, attributes, events, statuses, metric attributes."""
        out: list[str] = []
        for span in self.spans():
            out += [span.name, repr(dict(span.attributes or {})), str(span.status.description)]
            for event in span.events:
                out += [event.name, repr(dict(event.attributes or {}))]
        for name, points in self.points().items():
            out += [name] + [repr(dict(p.attributes or {})) for p in points]
        return out


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Otel]:
    state = Otel()
    telemetry = _telemetry.Telemetry(state.tracer_provider, state.meter_provider)
    monkeypatch.setattr(_telemetry, "TELEMETRY", telemetry)
    yield state
    state.tracer_provider.shutdown()
    state.meter_provider.shutdown()


FAULTS = "503=0.2,500=0.1,429=0.1,retry_after=0.5,seed=3"


async def test_a_users_trace_config_sees_every_attempt_retries_included(clock: Clock) -> None:
    starts: list[str] = []

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        starts.append(str(params.url))

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    async with (
        FakeAccuticsServer(records=120, seed=1, faults=FAULTS) as server,
        AccuticsClient(server.token, base_url=server.base_url, trace_configs=[config]) as client,
    ):
        items = await client.paginate(server.page_endpoint, page_size=10).collect()
    assert len(items) == 120
    assert sum(v for k, v in client.stats.items() if k.startswith("retries.")) > 0
    assert len(starts) == client.stats["attempts"] > 12


def test_trace_configs_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        AccuticsClient(TOKEN, base_url="http://127.0.0.1:1", trace_configs=["no"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="keeps its own"):
        AccuticsClient(
            TOKEN,
            base_url="http://127.0.0.1:1",
            session=object(),  # type: ignore[arg-type]
            trace_configs=[aiohttp.TraceConfig()],
        )


@pytest.mark.parametrize("hooks", [{"requests": []}, {"page": print}, {"page": [1]}, "x"])
def test_bad_event_hooks_are_refused(hooks: Any) -> None:
    with pytest.raises(ConfigurationError):
        AccuticsClient(TOKEN, base_url="http://127.0.0.1:1", event_hooks=hooks)


async def test_event_hooks_plain_and_async_see_requests_responses_retries_pages(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    got: dict[str, list[Any]] = {"request": [], "response": [], "retry": [], "page": []}

    async def on_response(event: ResponseEvent) -> None:
        await asyncio.sleep(0)
        got["response"].append(event)

    def broken(event: PageEvent) -> None:
        raise RuntimeError("a broken dashboard")

    async with FakeAccuticsServer(records=120, seed=1, faults=FAULTS) as server:
        client = AccuticsClient(
            server.token,
            base_url=server.base_url,
            event_hooks={
                "request": [got["request"].append],
                "response": [on_response],
                "retry": [got["retry"].append],
                "page": [broken, got["page"].append],
            },
        )
        async with client:
            items = await client.paginate(server.page_endpoint, page_size=10).collect()
    assert len(items) == 120
    attempts = client.stats["attempts"]
    assert len(got["request"]) == len(got["response"]) == attempts
    assert all(isinstance(e, RequestEvent) for e in got["request"])
    retries = sum(v for k, v in client.stats.items() if k.startswith("retries."))
    assert 0 < len(got["retry"]) == retries
    assert all(isinstance(e, RetryEvent) and e.status in (429, 500, 503) for e in got["retry"])
    assert {e.cause for e in got["retry"]} <= {"status_429", "status_500", "status_503"}
    statuses = [e.status for e in got["response"]]
    assert statuses.count(200) == 12
    assert len(statuses) - 12 == retries
    assert all(e.error == str(e.status) for e in got["response"] if e.status != 200)
    assert [e.number for e in got["page"]] == list(range(1, 13))
    assert sum(e.items for e in got["page"]) == 120
    assert "a broken dashboard" in caplog.text  # logged, and the walk went on


async def test_a_429_pause_is_an_event_a_span_event_and_a_metric(clock: Clock, otel: Otel) -> None:
    pauses: list[PauseEvent] = []
    async with FakeAccuticsServer(records=10, seed=1) as server:
        client = AccuticsClient(
            server.token,
            base_url=server.base_url,
            retry=RetryPolicy(max_attempts=1),
            event_hooks={"pause": [pauses.append]},
        )
        async with client:
            server.faults = "429=1,retry_after=2"
            with pytest.raises(RateLimitError):
                await client.get(server.page_endpoint)
            server.faults = None
            await client.get(server.page_endpoint)  # held by the shared gate first
    assert pauses == [PauseEvent(2.0)]
    second = otel.spans("GET")[-1]
    assert [e.attributes["accutics.pause_s"] for e in second.events if e.name == "pause"] == [2.0]
    [point] = otel.points()["accutics.client.rate_limit.pause.duration"]
    assert (point.count, point.sum) == (1, 2.0)


async def test_spans_and_metrics_of_a_walk_with_faults(clock: Clock, otel: Otel) -> None:
    async with (
        FakeAccuticsServer(records=120, seed=1, faults=FAULTS) as server,
        AccuticsClient(server.token, base_url=server.base_url) as client,
    ):
        items = await client.paginate(server.page_endpoint, page_size=10, concurrency=3).collect()
        base_url = server.base_url
    assert len(items) == 120
    [walk] = otel.spans("accutics.paginate")
    assert walk.attributes is not None
    assert (walk.attributes["accutics.pages"], walk.attributes["accutics.items"]) == (12, 120)
    calls = otel.spans("GET")
    assert len(calls) == 12
    assert all(c.kind is SpanKind.CLIENT and c.parent is not None for c in calls)
    assert {c.parent.span_id for c in calls if c.parent} == {walk.context.span_id}
    attempts = sum(1 for c in calls for e in c.events if e.name == "attempt")
    retries = sum(1 for c in calls for e in c.events if e.name == "retry")
    assert attempts == client.stats["attempts"]
    assert 0 < retries == attempts - 12
    for call in calls:
        assert call.attributes is not None
        assert call.attributes["http.request.method"] == "GET"
        assert call.attributes["http.response.status_code"] == 200
        assert str(call.attributes["url.full"]).startswith(base_url)
        assert call.attributes["server.address"] == "127.0.0.1"
    points = otel.points()
    assert sum(p.count for p in points["http.client.request.duration"]) == attempts
    by_cause = {
        p.attributes["accutics.retry.cause"]: p.value for p in points["accutics.client.retries"]
    }
    assert by_cause == {
        k.removeprefix("retries."): v for k, v in client.stats.items() if k.startswith("retries.")
    }
    assert [p.value for p in points["accutics.client.pages"]] == [12]
    assert [p.value for p in points["accutics.client.items"]] == [120]


@attrs.frozen
class Numbered:
    id: str
    n: int


# 120 records, ten a page: (pages, items) handed out by each walk, in order.
@pytest.mark.parametrize(
    ("how", "handed"),
    [
        ("limit", [(2, 15)]),  # collect(limit=15): page 2 is read up to its fifth item
        ("max_items", [(2, 15)]),
        ("break", [(1, 3)]),  # the consumer stops after three items
        ("pages", [(2, 20)]),  # pages(): two pages read, then the consumer stops
        ("resume", [(2, 13), (11, 107)]),  # from a checkpoint after 13 items
        ("whole", [(12, 120)]),
        ("two_at_once", [(12, 120), (12, 120)]),  # two iterations of one pager together
        ("break_then_again", [(1, 3), (12, 120)]),  # the first one ends after the second
    ],
)
async def test_each_walk_s_span_counts_the_pages_and_items_it_handed_out(
    otel: Otel, how: str, handed: list[tuple[int, int]]
) -> None:
    async with (
        FakeAccuticsServer(records=120, seed=1) as server,
        AccuticsClient(server.token, base_url=server.base_url) as client,
    ):
        endpoint = server.page_endpoint
        wide = client.paginate(endpoint, page_size=10, concurrency=3)
        if how == "limit":
            assert len(await client.paginate(endpoint, page_size=10).collect(limit=15)) == 15
        elif how == "max_items":
            assert len(await client.paginate(endpoint, page_size=10, max_items=15).collect()) == 15
        elif how == "whole":
            assert len(await wide.collect()) == 120
        elif how == "two_at_once":
            assert list(map(len, await asyncio.gather(wide.collect(), wide.collect()))) == [120] * 2
        elif how == "resume":
            first = client.paginate(endpoint, page_size=10)
            assert len(await first.collect(limit=13)) == 13
            rest = client.paginate(endpoint, page_size=10, resume=first.checkpoint)
            assert len(await rest.collect()) == 107
        else:
            async with wide as pager:
                if how == "pages":
                    async for page in pager.pages():
                        if page.number == 2:
                            break
                else:
                    taken = 0
                    async for _ in pager:
                        taken += 1
                        if taken == 3:
                            break
                    if how == "break_then_again":
                        assert len(await pager.collect()) == 120
    counts = []
    for walk in otel.spans("accutics.paginate"):
        assert walk.attributes is not None
        counts.append((walk.attributes["accutics.pages"], walk.attributes["accutics.items"]))
    assert sorted(counts) == handed


@pytest.mark.parametrize("how", ["items", "pages"])
async def test_a_walk_that_meets_an_item_its_model_cannot_take_is_a_failed_span(
    otel: Otel, how: str
) -> None:
    async def listing(request: web.Request) -> web.Response:
        data: list[dict[str, Any]] = [{"id": str(i), "n": i} for i in range(30)]
        data[20]["n"] = "twenty"
        return web.json_response({"data": data, "meta": {}})

    app = web.Application()
    app.router.add_get("/v1/records", listing)
    async with serve_app(app) as origin, AccuticsClient(TOKEN, base_url=f"{origin}/v1") as client:
        pager = client.paginate("records", model=Numbered)
        got: list[Numbered] = []
        with pytest.raises(DecodeError, match="item 20 does not fit Numbered"):
            if how == "items":
                async for item in pager:
                    got.append(item)
            else:
                async for page in pager.pages():
                    got.extend(page.items)
    assert len(got) == (20 if how == "items" else 0)
    [walk] = otel.spans("accutics.paginate")
    assert walk.status.status_code is StatusCode.ERROR
    assert walk.attributes is not None
    assert walk.attributes["error.type"] == "bad_item"


async def test_an_export_is_one_span_over_its_walk(clock: Clock, otel: Otel, tmp_path: Any) -> None:
    from accutics_async.export import export

    async with (
        FakeAccuticsServer(records=30, seed=1) as server,
        AccuticsClient(server.token, base_url=server.base_url) as client,
    ):
        await export(client, server.page_endpoint, tmp_path / "out.jsonl", page_size=10)
    [span] = otel.spans("accutics.export")
    [walk] = otel.spans("accutics.paginate")
    assert walk.parent is not None
    assert walk.parent.span_id == span.context.span_id
    assert span.attributes is not None
    assert span.attributes["accutics.records"] == 30


async def test_a_sync_is_one_span_over_its_calls(clock: Clock, otel: Otel, tmp_path: Any) -> None:
    from accutics_async.sync import sync

    async with (
        FakeAccuticsServer(records=30, seed=1) as server,
        AccuticsClient(server.token, base_url=server.base_url) as client,
    ):
        await sync(client, server.cursor_endpoint, tmp_path / "copy.sqlite", page_size=10)
    [span] = otel.spans("accutics.sync")
    calls = [s for s in otel.spans() if s.kind == SpanKind.CLIENT]
    assert calls
    assert all(c.context.trace_id == span.context.trace_id for c in calls)
    assert span.attributes is not None
    assert span.attributes["accutics.sync.sink"] == "sqlite"
    assert span.attributes["accutics.records"] == 30


@pytest.mark.parametrize("where", ["same_origin", "foreign"])
async def test_the_token_is_in_no_span_event_metric_or_log(
    where: str, clock: Clock, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that echoes the token in its error bodies and writes it into
    # its next links: nothing exported or logged may carry it on.
    calls = {"n": 0}

    async def listing(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            body = {"error": {"code": "x", "message": f"bad token {TOKEN}"}}
            return web.Response(
                status=503, body=orjson.dumps(body), content_type="application/json"
            )
        page = int(request.query.get("page", "1"))
        nxt: str | None = f"/v1/records?page=2&t={TOKEN}" if page == 1 else None
        if where == "foreign":
            nxt = f"http://127.0.0.1:9/steal?t={TOKEN}"
        pagination = {"next": nxt, "total_items": 2, "items_per_page": 1}
        doc = {"data": [{"id": str(page), "echo": TOKEN}], "meta": {"pagination": pagination}}
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/records", listing)
    caplog.set_level(logging.DEBUG)
    async with serve_app(app) as origin, AccuticsClient(TOKEN, base_url=f"{origin}/v1") as client:
        if where == "foreign":
            with pytest.raises(UnsafeURLError):
                await client.paginate("records").collect()
        else:
            assert len(await client.paginate("records").collect()) == 2
    texts = otel.texts() + [r.getMessage() for r in caplog.records] + [caplog.text]
    assert not [t for t in texts if TOKEN in t]
    [walk] = otel.spans("accutics.paginate")
    if where == "foreign":
        assert walk.status.status_code is StatusCode.ERROR
        assert "[redacted]" in str(walk.status.description)
    else:
        assert any(
            "[redacted]" in str((s.attributes or {}).get("url.full")) for s in otel.spans("GET")
        )
    assert sum(len(t) for t in texts) > 1000


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_opentelemetry_the_client_works_and_never_tries_to_import_it() -> None:
    out = _run(
        """
        import asyncio, sys
        sys.modules["opentelemetry"] = None  # import opentelemetry now raises ImportError
        from accutics_async import AccuticsClient, _telemetry
        from accutics_async.testing import FakeAccuticsServer
        assert not _telemetry.HAVE_OTEL and _telemetry.TELEMETRY is None

        class Watch:
            tries = 0
            def find_spec(self, name, path=None, target=None):
                if name.startswith("opentelemetry"):
                    Watch.tries += 1
                return None

        sys.meta_path.insert(0, Watch())
        pages = []

        async def main():
            async with FakeAccuticsServer(records=50, seed=1) as server:
                async with AccuticsClient(server.token, base_url=server.base_url,
                                          event_hooks={"page": [pages.append]}) as client:
                    return await client.paginate(server.page_endpoint, page_size=10).collect()

        items = asyncio.run(main())
        print(len(items), len(pages), Watch.tries)
        """
    )
    assert out.split() == ["50", "5", "0"]


def test_the_global_providers_get_telemetry_with_no_call_needed() -> None:
    out = _run(
        """
        import asyncio
        from accutics_async import AccuticsClient
        from accutics_async.testing import FakeAccuticsServer
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)  # after the library was imported

        async def main():
            async with FakeAccuticsServer(records=20, seed=1) as server:
                async with AccuticsClient(server.token, base_url=server.base_url) as client:
                    await client.paginate(server.page_endpoint, page_size=10).collect()

        asyncio.run(main())
        print(sorted(s.name for s in exporter.get_finished_spans()))
        """
    )
    assert out.strip() == "['GET', 'GET', 'accutics.paginate']"


async def test_url_full_is_the_url_sent_when_the_path_has_a_query_and_params_too(
    otel: Otel,
) -> None:
    sent: list[str] = []

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        sent.append(str(params.url))

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    requests: list[RequestEvent] = []
    async with (
        FakeAccuticsServer(records=10, seed=1) as server,
        AccuticsClient(
            server.token,
            base_url=server.base_url,
            trace_configs=[config],
            event_hooks={"request": [requests.append]},
        ) as client,
    ):
        answer = await client.get("records?page=2", params={"page_size": 3})
    assert len(answer.data) == 3  # the server read both parameters
    [wire] = sent
    assert wire.endswith("/records?page=2&page_size=3")
    [span] = otel.spans("GET")
    assert span.attributes is not None
    assert span.attributes["url.full"] == wire
    assert [e.url for e in requests] == [wire]


async def test_an_attempt_cut_off_by_the_deadline_reports_its_end_with_no_status(
    otel: Otel,
) -> None:
    release = asyncio.Event()
    calls = {"n": 0}

    async def listing(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            body = {"error": {"code": "busy", "message": "busy"}}
            return web.Response(
                status=503, body=orjson.dumps(body), content_type="application/json"
            )
        await release.wait()  # the second attempt hangs until the test is done
        return web.json_response({"data": [], "meta": {}})

    app = web.Application()
    app.router.add_get("/v1/records", listing)
    requests: list[RequestEvent] = []
    responses: list[ResponseEvent] = []
    async with serve_app(app) as origin:
        try:
            async with AccuticsClient(
                TOKEN,
                base_url=f"{origin}/v1",
                retry=RetryPolicy(backoff=0.001),
                event_hooks={"request": [requests.append], "response": [responses.append]},
            ) as client:
                with pytest.raises(TransportError) as raised:
                    await client.get("records", deadline=0.3)
        finally:
            release.set()
    assert raised.value.kind == "deadline"
    assert [e.attempt for e in requests] == [1, 2]
    ends = [(e.attempt, e.status, e.error) for e in responses]
    assert ends == [(1, 503, "503"), (2, None, "CancelledError")]
    [span] = otel.spans("GET")
    assert span.attributes is not None
    assert span.attributes["error.type"] == "deadline"
    assert "http.response.status_code" not in span.attributes  # the last attempt had no answer
    assert span.attributes["http.request.resend_count"] == 1
    attempts = [dict(e.attributes or {}) for e in span.events if e.name == "attempt"]
    assert [a.get("http.response.status_code") for a in attempts] == [503, None]
    assert attempts[1]["error.type"] == "CancelledError"
    points = otel.points()["http.client.request.duration"]
    assert sum(p.count for p in points) == 2


async def test_an_attempt_the_caller_cancels_reports_its_end_and_stays_cancelled(
    otel: Otel,
) -> None:
    started = asyncio.Event()
    responses: list[ResponseEvent] = []
    async with (
        FakeAccuticsServer(records=10, seed=1, faults="latency=500ms") as server,
        AccuticsClient(
            server.token,
            base_url=server.base_url,
            event_hooks={"request": [lambda _: started.set()], "response": [responses.append]},
        ) as client,
    ):
        task = asyncio.ensure_future(client.get(server.page_endpoint))
        await started.wait()  # cancelled mid-attempt
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
    assert [(e.attempt, e.status, e.error) for e in responses] == [(1, None, "CancelledError")]
    [span] = otel.spans("GET")
    assert [e.name for e in span.events] == ["attempt"]
    assert span.attributes is not None
    assert "http.response.status_code" not in span.attributes
    [point] = otel.points()["http.client.request.duration"]
    assert point.count == 1


# What the client waits for before sending, and the bound on each request's
# duration (the server answers at once, or after its latency): the waits are
# several times that bound, and not the request's.
@pytest.mark.parametrize(
    ("wait", "shortest", "longest"),
    [
        ("gate", 0.0, 0.2),  # a 0.6 s pause at the shared 429 gate
        ("slot", 0.25, 0.45),  # three calls for one slot, 0.25 s each on the server
        ("rate_limit", 0.0, 0.1),  # four calls at 5 a second: 0.2 s apart
    ],
)
async def test_a_request_s_duration_leaves_out_the_client_s_own_waits(
    otel: Otel, wait: str, shortest: float, longest: float
) -> None:
    responses: list[ResponseEvent] = []
    async with FakeAccuticsServer(records=10, seed=1) as server:
        client = AccuticsClient(
            server.token,
            base_url=server.base_url,
            retry=RetryPolicy(max_attempts=1),
            max_concurrency=1 if wait == "slot" else 8,
            rate_limit=5 if wait == "rate_limit" else None,
            event_hooks={"response": [responses.append]},
        )
        async with client:
            endpoint = server.page_endpoint
            if wait == "gate":
                server.faults = "429=1,retry_after=0.6"
                with pytest.raises(RateLimitError):
                    await client.get(endpoint)
                server.faults = None
                responses.clear()
                await client.get(endpoint)  # held at the gate first
                assert [e.name for e in otel.spans("GET")[-1].events] == ["pause", "attempt"]
            else:
                server.faults = "latency=250ms" if wait == "slot" else None
                many = 3 if wait == "slot" else 4
                await asyncio.gather(*(client.get(endpoint) for _ in range(many)))
    assert {e.status for e in responses} == {200}
    answered = [s for s in otel.spans("GET") if s.status.status_code is not StatusCode.ERROR]
    durations = {
        "response": sorted(e.elapsed_s for e in responses),
        "attempt": sorted(
            float((e.attributes or {})["duration_s"])
            for s in answered
            for e in s.events
            if e.name == "attempt"
        ),
    }
    assert len(durations["attempt"]) == len(responses)
    for measured in durations.values():
        assert shortest <= measured[0], durations
        assert measured[-1] < longest, durations
    [point] = [
        p
        for p in otel.points()["http.client.request.duration"]
        if p.attributes.get("http.response.status_code") == 200
    ]
    assert point.count == len(responses)
    assert point.sum < longest * point.count


async def test_a_failed_export_s_walk_span_ends_before_the_export_s(
    otel: Otel, tmp_path: Any
) -> None:
    from accutics_async.export import ExportProgress, export

    def progress(p: ExportProgress) -> None:
        if p.records >= 20:
            raise RuntimeError("a broken dashboard")

    out = tmp_path / "out.jsonl"
    async with (
        FakeAccuticsServer(records=50, seed=1) as server,
        AccuticsClient(server.token, base_url=server.base_url) as client,
    ):
        with pytest.raises(RuntimeError, match="a broken dashboard"):
            await export(client, server.page_endpoint, out, page_size=10, progress=progress)
        resumed = await export(client, server.page_endpoint, out, page_size=10, resume=True)
    assert (resumed.records, resumed.resumed_records) == (50, 20)
    [failed] = [
        s for s in otel.spans("accutics.export") if s.status.status_code is StatusCode.ERROR
    ]
    [walk] = [
        s
        for s in otel.spans("accutics.paginate")
        if s.parent is not None and s.parent.span_id == failed.context.span_id
    ]
    assert walk.status.status_code is StatusCode.UNSET  # the walk itself did not fail
    assert walk.end_time is not None
    assert failed.end_time is not None
    assert walk.end_time <= failed.end_time


async def test_a_429_pause_counts_the_requests_that_wait_at_the_gate_holding_a_slot(
    clock: Clock, otel: Otel
) -> None:
    pauses: list[PauseEvent] = []
    async with FakeAccuticsServer(records=10, seed=1) as server:
        client = AccuticsClient(
            server.token,
            base_url=server.base_url,
            max_concurrency=2,
            adaptive=False,
            retry=RetryPolicy(max_attempts=1),
            event_hooks={"pause": [pauses.append]},
        )
        async with client:
            server.faults = "429=1,retry_after=1"
            with pytest.raises(RateLimitError):
                await client.get(server.page_endpoint)
            server.faults = None
            await asyncio.gather(*(client.get(server.page_endpoint) for _ in range(8)))
    # The gate is checked with the slot held: two wait at it, six for a slot.
    assert len(pauses) == 2
    [point] = otel.points()["accutics.client.rate_limit.pause.duration"]
    assert point.count == 2
