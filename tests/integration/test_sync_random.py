"""Seeded random sequences of writes and syncs: the sink never loses or doubles a version.

Deterministic (fixed seeds, the fake server's clock, no timing), so a
failure names the seed and repeats exactly.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sync_support import assert_in_step, current, log_versions, table_rows

from accutics_async import AccuticsClient
from accutics_async.sync import sync
from accutics_async.testing import FakeAccuticsServer, FakeClock


def _write(server: FakeAccuticsServer, rng: random.Random, clock: FakeClock, late: bool) -> None:
    """One random write: a create, an update, a late one, a tie or a deletion."""
    assert clock.now is not None
    ids = [record["id"] for record in server.all_records()]
    kinds = ["create", "update", "update", "tick", "delete"] + ["late"] * late
    kind = rng.choice(kinds)
    if kind == "create" or not ids:
        server.create_record()
    elif kind == "update":
        server.update_record(rng.choice(ids), {"input_content": f"v{rng.random():.6f}"})
    elif kind == "late":
        stamp = clock.now - rng.randint(1, 200)  # within the default lookback
        server.update_record(rng.choice(ids), {"input_content": "late"}, stamp=stamp)
    elif kind == "tick":
        clock.advance(rng.randint(1, 3))
    else:
        server.delete_record(rng.choice(ids))


@pytest.mark.parametrize(
    ("seed", "lookback"),
    # lookback=0 without late commits: ties and changes mid-walk alone must not
    # depend on the lookback window to be caught.
    [(0, 300), (1, 300), (2, 0), (3, 0)],
)
@pytest.mark.parametrize("sink", ["copy.sqlite", "changes.jsonl"])
@pytest.mark.parametrize("endpoint", ["/records", "/stream/records"])
async def test_random_sequences(
    tmp_path: Path, endpoint: str, sink: str, seed: int, lookback: int
) -> None:
    rng = random.Random(seed)
    late = lookback > 0
    clock = FakeClock()
    into = tmp_path / sink
    server = FakeAccuticsServer(records=25, seed=seed, max_page_size=5, clock=clock)
    async with server, AccuticsClient(server.token, base_url=server.base_url) as client:
        await sync(client, endpoint, into, lookback=lookback)
        for _ in range(6):
            for _ in range(rng.randint(0, 12)):
                _write(server, rng, clock, late)
            # Writes while the run walks, after a random page.
            for _ in range(rng.randint(0, 2)):
                server.after_pages(rng.randint(1, 4), lambda: _write(server, rng, clock, late))
            await sync(client, endpoint, into, lookback=lookback)
        # Let writes still due happen (any listing page counts), then a quiet run.
        await client.paginate(endpoint, page_size=5).collect(limit=25)
        await sync(client, endpoint, into, lookback=lookback)
        latest = current(server)
        if sink.endswith(".jsonl"):
            assert_in_step(server, into)
        else:
            rows = table_rows(into)
            assert latest.keys() <= rows.keys()  # deletions wait for a full run
            assert all(rows[ident] == record for ident, record in latest.items())
        await sync(client, endpoint, into, lookback=lookback, full=True)
        assert_in_step(server, into)
        if sink.endswith(".jsonl"):
            log_versions(into)  # no version twice, also across the full run
