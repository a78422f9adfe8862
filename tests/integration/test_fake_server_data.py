"""The fake server's deterministic data, tokens and pytest plugin."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import orjson
import pytest

import accutics_async.testing as testing
from accutics_async.testing import FakeAccuticsServer, generate_record, generate_records, make_token

FIELDS = [
    "id",
    "created_at",
    "updated_at",
    "author",
    "updater",
    "submission",
    "match_status",
    "input_campaign_name",
    "input_medium",
    "input_source",
    "input_market",
    "input_segment",
    "input_tags",
    "input_start_date",
    "input_end_date",
    "input_budget",
    "input_content",
    "output_utm_campaign",
    "output_utm_source",
    "output_utm_medium",
    "output_utm_content",
    "output_url",
]


def test_records_are_deterministic_and_lazy() -> None:
    assert list(generate_records(50, seed=3)) == list(generate_records(50, seed=3))
    assert list(generate_records(5, seed=3, start=45)) == list(generate_records(50, seed=3))[45:]
    assert generate_record(3, 999_999) == generate_record(3, 999_999)
    assert [r["id"] for r in generate_records(5, seed=3)] != [
        r["id"] for r in generate_records(5, seed=4)
    ]


def test_record_shape() -> None:
    records = list(generate_records(500, seed=1))
    ids = [r["id"] for r in records]
    assert len(set(ids)) == 500
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)
    stamps = [r["created_at"] for r in records]
    assert stamps == sorted(set(stamps))  # strictly increasing
    for record in records:
        assert [f for f in FIELDS if f in record] == list(record)
        assert set(FIELDS) - set(record) <= {"input_segment"}
        assert record["updated_at"] >= record["created_at"]
        assert record["input_end_date"] > record["input_start_date"]
        assert record["created_at"].endswith("Z")
        assert len(record["created_at"]) == 20
        assert set(record["author"]) == {"id", "name", "email"}
        assert record["submission"].startswith(("Q1 ", "Q2 ", "Q3 ", "Q4 "))
        assert record["output_utm_source"] == record["input_source"]
        assert record["input_medium"] in ("email", "paid_search", "social", "display", "affiliate")
    sizes = [len(orjson.dumps(r)) for r in records]
    assert 800 < sum(sizes) / len(sizes) < 1300


def test_server_serves_the_generated_records() -> None:
    server = FakeAccuticsServer(records=20, seed=5)
    assert server.all_records() == list(generate_records(20, seed=5))
    record = generate_record(5, 7)
    assert server.get_record(record["id"]) == record
    assert server.get_record(generate_record(5, 20)["id"]) is None  # beyond the count
    assert server.get_record(generate_record(6, 7)["id"]) is None  # another seed


def test_big_datasets_cost_nothing_up_front() -> None:
    server = FakeAccuticsServer(records=1_000_000, seed=1)
    assert len(server.dataset) == 1_000_000
    last = generate_record(1, 999_999)
    assert server.get_record(last["id"]) == last
    handles, _ = server.dataset.query(f"created_at:gte:{last['created_at']}", "")
    assert [server.dataset.record(h)["id"] for h in handles] == [last["id"]]


def test_tokens_look_like_jwts() -> None:
    server = FakeAccuticsServer(seed=2)
    assert server.token == make_token(2, "api-user") == FakeAccuticsServer(seed=2).token
    assert server.token != FakeAccuticsServer(seed=3).token
    assert server.restricted_token != server.token
    header, payload, signature = server.token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(payload + "=="))["sub"] == "api-user"
    assert signature
    assert FakeAccuticsServer(token="t1", restricted_token="t2").token == "t1"
    with pytest.raises(ValueError, match="differ"):
        FakeAccuticsServer(token="same", restricted_token="same")


def test_public_names() -> None:
    assert sorted(testing.__all__) == sorted(
        [
            "FakeAccuticsServer",
            "FakeClock",
            "FaultSpec",
            "RequestRecord",
            "ServerStats",
            "generate_record",
            "generate_records",
            "make_token",
            "serve_forever",
        ]
    )
    for name in testing.__all__:
        assert getattr(testing, name).__name__ == name
    with pytest.raises(AttributeError):
        testing.nothing  # noqa: B018


async def test_serve_forever_runs_until_cancelled() -> None:
    import asyncio

    ready: list[FakeAccuticsServer] = []
    started = asyncio.Event()

    def on_ready(server: FakeAccuticsServer) -> None:
        ready.append(server)
        started.set()

    task = asyncio.create_task(
        testing.serve_forever(records=3, seed=4, token="tok", faults="503=0.5", on_ready=on_ready)
    )
    await asyncio.wait_for(started.wait(), 10)
    described = ready[0].describe()
    assert described["token"] == "tok"
    assert described["records"] == 3
    assert described["faults"] == "503=0.5"
    assert described["base_url"].startswith("http://127.0.0.1:")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


PLUGIN_TEST = """
import aiohttp

async def test_fixture(accutics_server):
    assert len(accutics_server.all_records()) == 250
    async with aiohttp.ClientSession() as session:
        async with session.get(
            accutics_server.url(accutics_server.page_endpoint),
            headers={"Authorization": "Bearer " + accutics_server.token},
        ) as response:
            assert response.status == 200

async def test_factory(accutics_server_factory):
    server = await accutics_server_factory(records=7, seed=2, faults="503=1")
    assert len(server.all_records()) == 7
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url("/records")) as response:
            assert response.status == 503

async def test_no_retries(accutics_no_retries, accutics_server_factory):
    from accutics_async import AccuticsClient, ServerError
    server = await accutics_server_factory(records=3, faults="503=1")
    async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
        try:
            await client.get(server.page_endpoint)
        except ServerError:
            pass
        assert client.stats["attempts"] == 1
"""


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    # In a subprocess with pytest-asyncio in strict mode, as a user might run it.
    (tmp_path / "test_uses_plugin.py").write_text(
        "import pytest\npytestmark = pytest.mark.asyncio\n" + textwrap.dedent(PLUGIN_TEST)
    )
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    root = Path(testing.__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:accutics", "-p", "no:cacheprovider",
         "-p", "accutics_async.testing.pytest_plugin", str(tmp_path)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
