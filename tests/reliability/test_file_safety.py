"""An export in a shared directory: files it did not create are never followed, trusted or deleted.

Single-user forms of what another local user could do: symlinks and files
planted at the export's working names, and shard plans that name other
files. Each test keeps a private ``victim`` file (mode 0600, outside the
export's directory where that matters) and checks that it is untouched.
Ownership by another user cannot be created without root, so those tests
swap the uid the module compares against (``_safe_files.current_uid``).
"""

# Small local files, set up and checked between awaits; an executor would only obscure the tests.
# ruff: noqa: ASYNC240

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from accutics_async import AccuticsClient
from accutics_async.export import (
    CheckpointExistsError,
    ExportError,
    discard_export,
    export,
    export_sharded,
)
from accutics_async.testing import FakeAccuticsServer

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX owners, modes and symlinks")

N = 120
PAGE = 20
SECRET = b"the user's private data\n"


class Crash(Exception):
    """Stands in for the process dying after a page was saved."""


@pytest.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    async with FakeAccuticsServer(records=N, seed=5) as srv:
        yield srv


@pytest.fixture
async def client(server: FakeAccuticsServer) -> AsyncIterator[AccuticsClient]:
    async with AccuticsClient(token=server.token, base_url=server.base_url) as c:
        yield c


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A private file of the user's, outside the shared directory."""
    path = tmp_path / "private" / "notes.txt"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def untouched(victim: Path) -> bool:
    return victim.read_bytes() == SECRET and stat.S_IMODE(victim.stat().st_mode) == 0o600


def umask_mode() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def crash_after(pages: int) -> Any:
    def progress(state: Any) -> None:
        if state.pages >= pages:
            raise Crash

    return progress


async def interrupted_sharded(client: AccuticsClient, out: Path, shards: int = 3) -> dict[str, Any]:
    """Leave a genuine shard plan for ``out``; return its JSON."""
    with pytest.raises(Crash):
        await export_sharded(
            client, "/records", out, shards=shards, page_size=PAGE, progress=crash_after(1)
        )
    plan: dict[str, Any] = orjson.loads(Path(f"{out}.shards.json").read_bytes())
    return plan


def plant_plan(out: Path, plan: dict[str, Any]) -> None:
    path = Path(f"{out}.shards.json")
    path.write_bytes(orjson.dumps(plan))
    path.chmod(0o600)


# -- symlinks and planted files at the working names ---------------------------------


@pytest.mark.parametrize("name", [".part", ".checkpoint.json.tmp"])
async def test_a_symlink_at_a_working_name_is_refused_not_followed(
    client: AccuticsClient, shared: Path, victim: Path, name: str
) -> None:
    out = shared / "out.jsonl"
    link = Path(f"{out}{name}")
    link.symlink_to(victim)
    with pytest.raises(ExportError, match=str(link)):
        await export(client, "/records", out, page_size=PAGE, checkpoint_every=0)
    assert untouched(victim)
    assert link.is_symlink()
    assert not out.exists()


async def test_a_symlinked_checkpoint_is_not_read_on_resume(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    Path(f"{out}.checkpoint.json").symlink_to(victim)
    with pytest.raises(ExportError, match="symbolic link"):
        await export(client, "/records", out, resume=True)
    assert untouched(victim)


async def test_a_symlinked_partial_file_is_not_reopened_on_resume(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(2))
    part = Path(f"{out}.part")
    part.unlink()
    big = victim.with_name("big.txt")  # longer than the checkpoint's offset: it would be cut
    big.write_bytes(SECRET * 100_000)
    part.symlink_to(big)
    with pytest.raises(ExportError, match=str(part)):
        await export(client, "/records", out, page_size=PAGE, resume=True)
    assert big.read_bytes() == SECRET * 100_000


async def test_a_leftover_open_partial_file_does_not_decide_the_result_mode(
    client: AccuticsClient, shared: Path
) -> None:
    # A world-writable OUT.part left behind (by a killed run, or planted) used
    # to be reused as is, so the finished OUT stayed world-writable.
    out = shared / "out.jsonl"
    part = Path(f"{out}.part")
    part.write_bytes(b"stale")
    part.chmod(0o666)
    result = await export(client, "/records", out, page_size=PAGE)
    assert result.records == N
    assert stat.S_IMODE(out.stat().st_mode) == umask_mode()
    assert b"stale" not in out.read_bytes()


@pytest.mark.parametrize("mode", [0o620, 0o602], ids=["group", "others"])
async def test_a_partial_file_writable_by_others_is_not_trusted_on_resume(
    client: AccuticsClient, shared: Path, mode: int
) -> None:
    out = shared / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(2))
    part = Path(f"{out}.part")
    before = part.read_bytes()
    part.chmod(mode)
    with pytest.raises(ExportError, match="writable by other users"):
        await export(client, "/records", out, page_size=PAGE, resume=True)
    assert part.read_bytes() == before
    assert not out.exists()


async def test_a_checkpoint_writable_by_others_is_not_trusted(
    client: AccuticsClient, shared: Path
) -> None:
    out = shared / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(2))
    Path(f"{out}.checkpoint.json").chmod(0o666)
    with pytest.raises(ExportError, match="writable by other users"):
        await export(client, "/records", out, page_size=PAGE, resume=True)


async def test_state_files_owned_by_another_user_are_refused(
    client: AccuticsClient, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accutics_async import _safe_files

    out = shared / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(2))
    files = {p: p.read_bytes() for p in shared.iterdir()}
    # As seen by another user, every file here belongs to someone else.
    monkeypatch.setattr(_safe_files, "current_uid", lambda: os.geteuid() + 1)
    with pytest.raises(ExportError, match="owned by another user"):
        await export(client, "/records", out, page_size=PAGE, resume=True)
    with pytest.raises(ExportError, match="owned by another user"):
        discard_export(out)
    assert {p: p.read_bytes() for p in shared.iterdir()} == files


async def test_files_the_export_creates_are_private_until_published(
    client: AccuticsClient, shared: Path
) -> None:
    out = shared / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(2))
    for name in (".part", ".checkpoint.json"):
        assert stat.S_IMODE(Path(f"{out}{name}").stat().st_mode) == 0o600
    await export(client, "/records", out, page_size=PAGE, resume=True)
    assert stat.S_IMODE(out.stat().st_mode) == umask_mode()


async def test_a_directory_as_the_output_is_refused_before_any_request(
    server: FakeAccuticsServer, client: AccuticsClient, shared: Path
) -> None:
    server.reset_stats()
    with pytest.raises(ExportError, match="directory"):
        await export(client, "/records", shared)
    with pytest.raises(ExportError, match="directory"):
        await export_sharded(client, "/records", shared, shards=2)
    assert server.stats.total_requests == 0


# -- shard plans are trusted only for what they may say ------------------------------


async def test_a_tampered_plan_cannot_steer_the_merge_to_another_file(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    plan = await interrupted_sharded(client, out)
    plan["shards"][0]["out"] = str(victim)
    plan["done"] = {"0": {"records": 1, "pages": 1, "bytes": 1, "total_items": None}}
    plant_plan(out, plan)
    with pytest.raises(ExportError, match="shard 1 is not one this export planned"):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE, resume=True)
    assert untouched(victim)
    assert not out.exists()


async def test_a_plan_saying_merged_does_not_hand_back_another_file(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    plan = await interrupted_sharded(client, out)
    plan["merged"] = True
    plant_plan(out, plan)
    out.symlink_to(victim)
    with pytest.raises(ExportError, match="symbolic link"):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE, resume=True)
    plan["shards"][1]["out"] = str(victim)
    plant_plan(out, plan)
    with pytest.raises(ExportError, match="not one this export planned"):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE, resume=True)
    assert untouched(victim)


async def test_a_plan_naming_the_output_itself_is_refused_and_discarded(
    client: AccuticsClient, shared: Path
) -> None:
    out = shared / "out.jsonl"
    plan = await interrupted_sharded(client, out)
    plan["shards"][0]["out"] = str(out)
    plant_plan(out, plan)
    with pytest.raises(ExportError, match="not one this export planned"):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE, resume=True)
    discard_export(out)  # was a RecursionError
    assert sorted(p.name for p in shared.iterdir()) == []


async def test_discard_removes_only_derived_names_never_what_a_plan_names(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    plan = await interrupted_sharded(client, out)
    keep = shared / "keep.jsonl"
    keep.write_bytes(SECRET)
    plan["shards"].append(dict(plan["shards"][0], out=str(victim), index=3))
    plan["shards"].append(dict(plan["shards"][0], out=str(keep), index=4))
    plant_plan(out, plan)
    discard_export(out)
    assert untouched(victim)
    assert keep.read_bytes() == SECRET
    assert sorted(p.name for p in shared.iterdir()) == ["keep.jsonl"]


async def test_a_planted_per_shard_plan_is_neither_read_nor_followed(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    first = await interrupted_sharded(client, out)
    names = [spec["out"] for spec in first["shards"]]
    discard_export(out)
    # Planted beside where each shard will go: plans that name the victim.
    planted = dict(first, shards=[dict(first["shards"][0], out=str(victim))])
    for name in names:
        plant_plan(Path(name), planted)
    # Refused (a shard never has a plan of its own), but never read or followed.
    with pytest.raises(ExportError, match=r"shard-00[123]-of-003\.shards\.json"):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE)
    assert untouched(victim)
    for name in names:
        assert orjson.loads(Path(f"{name}.shards.json").read_bytes()) == planted


async def test_a_planted_shard_file_is_refused_not_merged(
    client: AccuticsClient, shared: Path, victim: Path
) -> None:
    out = shared / "out.jsonl"
    plan = await interrupted_sharded(client, out)
    shard = Path(plan["shards"][2]["out"])
    discard_export(out)
    shard.symlink_to(victim)  # where a fresh plan's last shard will be written
    with pytest.raises(ExportError, match=str(shard)):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE)
    assert untouched(victim)


async def test_an_interrupted_export_is_still_refused_without_resume(
    client: AccuticsClient, shared: Path
) -> None:
    # The checks above must not weaken the old rule.
    out = shared / "out.jsonl"
    await interrupted_sharded(client, out)
    with pytest.raises(CheckpointExistsError):
        await export_sharded(client, "/records", out, shards=3, page_size=PAGE)
    result = await export_sharded(client, "/records", out, shards=3, page_size=PAGE, resume=True)
    assert result.records == N
    assert sorted(p.name for p in shared.iterdir()) == ["out.jsonl"]


STEERED = {
    "another path": lambda url: url.replace("/records?", "/stream/records?", 1),
    "another search": lambda url: url + "&search=input_medium%3Aeq%3Aemail",
    "another page size": lambda url: url.replace(f"page_size={PAGE}", "page_size=7"),
}


@pytest.mark.parametrize("edit", sorted(STEERED))
async def test_a_checkpoint_cannot_steer_the_resume_to_another_listing(
    client: AccuticsClient, server: FakeAccuticsServer, shared: Path, edit: str
) -> None:
    out = shared / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(2))
    checkpoint = Path(f"{out}.checkpoint.json")
    state = orjson.loads(checkpoint.read_bytes())
    url = state["pager"]["url"]
    assert f"page_size={PAGE}" in url  # what the edits change is there
    state["pager"]["url"] = STEERED[edit](url)
    checkpoint.write_bytes(orjson.dumps(state))  # still the user's own 0600 file
    server.reset_stats()
    with pytest.raises(ExportError, match="another export"):
        await export(client, "/records", out, page_size=PAGE, resume=True)
    assert list(server.request_log) == []  # refused before any request
    # The command's own checkpoint, put back, still resumes.
    state["pager"]["url"] = url
    checkpoint.write_bytes(orjson.dumps(state))
    result = await export(client, "/records", out, page_size=PAGE, resume=True)
    assert result.records == N
