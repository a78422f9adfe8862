"""The export's file layer without a server: CSV encoding, header growth, merging, checkpoints."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accutics_async import AccuticsError
from accutics_async.export import CheckpointExistsError, ExportError, ShardSpec
from accutics_async.export import _drop_behind as drop_behind
from accutics_async.export._checkpoint import SavedState
from accutics_async.export._files import ExportPaths, PartWriter, merge_files, read_state
from accutics_async.export._formats import CsvEncoder, JsonlEncoder, _csv_records, _split_record

# tests/conftest.py's fixture: fake_advice(fadvise, window).
FakeAdvice = Callable[[Callable[..., None], int], None]

TRICKY = [
    "plain",
    "comma, inside",
    'a "quoted" word',
    "line\nbreak",
    "crlf\r\ninside",
    "lone\rcr",
    "ÆØÅ æøå — 日本語 🎉",
    "",
    " leading and trailing ",
    '"',
    ",",
    'trailing quote"',
]


def parse_csv(data: bytes) -> list[list[str]]:
    # Python 3.10's csv.reader refuses NUL; st.text() never makes a lone
    # surrogate, so one stands in for NUL through the reader.
    text = data.decode("utf-8").replace("\x00", "\ud800")
    rows = csv.reader(io.StringIO(text, newline=""))
    return [[cell.replace("\ud800", "\x00") for cell in row] for row in rows]


def write_csv(tmp_path: Path, pages: list[list[dict[str, Any]]], name: str = "out.csv") -> Path:
    """Run pages through the encoder and part writer like an export does."""
    paths = ExportPaths.for_out(tmp_path / name)
    encoder = CsvEncoder()
    writer = PartWriter(paths, offset=0, fsync=False)
    try:
        for page in pages:
            writer.append(encoder.encode(page))
            writer.commit(SavedState(format="csv", pager={}, offset=0))
        writer.finish(encoder.columns if encoder.needs_rewrite else None)
    finally:
        writer.close()
    return Path(paths.out)


def test_csv_cells_are_rfc4180_utf8_and_round_trip() -> None:
    items = [{"id": str(i), "text": text} for i, text in enumerate(TRICKY)]
    data = CsvEncoder().encode(items)
    assert data.startswith(b"id,text\r\n")
    rows = parse_csv(data)
    assert rows[0] == ["id", "text"]
    assert [row[1] for row in rows[1:]] == TRICKY
    assert b'"comma, inside"' in data
    assert b'"a ""quoted"" word"' in data
    assert "ÆØÅ".encode() in data  # UTF-8, no escaping


def test_csv_value_encoding() -> None:
    item = {
        "none": None,
        "yes": True,
        "no": False,
        "int": 42,
        "float": 1.5,
        "list": ["a", "b,c"],
        "dict": {"name": 'Ann "A"', "n": 1},
        "empty_list": [],
    }
    rows = parse_csv(CsvEncoder().encode([item]))
    assert rows == [
        list(item),
        ["", "true", "false", "42", "1.5", '["a","b,c"]', '{"name":"Ann \\"A\\"","n":1}', "[]"],
    ]


def test_csv_refuses_non_objects() -> None:
    with pytest.raises(ExportError, match="JSON objects"):
        CsvEncoder().encode([["not", "an", "object"]])


def test_jsonl_is_one_compact_line_per_record() -> None:
    items = [{"id": 1, "text": "line\nbreak", "u": "é"}, {"id": 2}]
    data = JsonlEncoder().encode(items)
    assert data.count(b"\n") == 2
    assert [orjson.loads(line) for line in data.splitlines()] == items


@attrs.frozen
class Budget:
    id: str
    amount: Decimal
    at: datetime


def test_jsonl_lines_are_each_items_json_form_whatever_the_item() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    items = [{"id": "a", "n": 1.5}, Budget("b", Decimal("0.10"), at), {"d": Decimal("2")}, [1]]
    lines = JsonlEncoder().encode(items).splitlines()
    assert [orjson.loads(line) for line in lines] == [
        {"id": "a", "n": 1.5},
        {"id": "b", "amount": "0.10", "at": "2024-01-02T03:04:05Z"},
        {"d": "2"},
        [1],
    ]
    with pytest.raises(ExportError, match="cannot be written as JSON"):
        JsonlEncoder().encode([{"id": "c"}, {"x": object()}])


def test_csv_new_columns_rewrite_the_header_and_pad_earlier_rows(tmp_path: Path) -> None:
    pages = [
        [{"id": "1", "a": "x"}, {"id": "2", "a": "line\nbreak"}],
        [{"id": "3", "b": "new, column", "a": "y"}],
        [{"id": "4", "c": "é"}],
    ]
    out = write_csv(tmp_path, pages)
    rows = parse_csv(out.read_bytes())
    assert rows == [
        ["id", "a", "b", "c"],
        ["1", "x", "", ""],
        ["2", "line\nbreak", "", ""],
        ["3", "y", "new, column", ""],
        ["4", "", "", "é"],
    ]
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]  # no partial or checkpoint left


def test_csv_without_new_columns_is_renamed_not_rewritten(tmp_path: Path) -> None:
    pages = [[{"id": "1", "a": "x"}], [{"a": "y", "id": "2"}]]  # key order may differ
    out = write_csv(tmp_path, pages)
    assert out.read_bytes() == b"id,a\r\n1,x\r\n2,y\r\n"


def test_empty_export_writes_an_empty_file(tmp_path: Path) -> None:
    assert write_csv(tmp_path, [[]]).read_bytes() == b""


def test_raw_record_splitting_keeps_quoted_breaks() -> None:
    data = CsvEncoder().encode([{"a": text, "b": "z"} for text in TRICKY])
    records = list(_csv_records(io.BytesIO(data)))
    assert b"".join(records) == data
    assert len(records) == len(TRICKY) + 1
    for record, row in zip(records, parse_csv(data), strict=True):
        assert len(_split_record(record)) == len(row)


def test_csv_records_refuses_a_cut_record() -> None:
    with pytest.raises(ExportError):
        list(_csv_records(io.BytesIO(b'a,b\r\n"open\r\n')))


def test_merge_csv_unions_headers_in_shard_order(tmp_path: Path) -> None:
    shard1 = write_csv(tmp_path, [[{"id": "1", "a": "x,1"}]], "s1.csv")
    shard2 = write_csv(tmp_path, [[{"id": "2", "b": 'q"'}, {"a": "y", "id": "3"}]], "s2.csv")
    empty = write_csv(tmp_path, [[]], "s3.csv")
    shard4 = write_csv(tmp_path, [[{"id": "4", "a": "z", "b": "w"}]], "s4.csv")
    whole = write_csv(
        tmp_path,
        [
            [{"id": "1", "a": "x,1"}],
            [{"id": "2", "b": 'q"'}, {"a": "y", "id": "3"}],
            [{"id": "4", "a": "z", "b": "w"}],
        ],
        "whole.csv",
    )
    merged = tmp_path / "merged.csv"
    sources = [str(p) for p in (shard1, shard2, empty, shard4)]
    size = merge_files(sources, str(merged), str(merged) + ".part", "csv", fsync=True)
    assert merged.read_bytes() == whole.read_bytes()
    assert size == merged.stat().st_size


def test_merge_jsonl_concatenates(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b'{"id":1}\n')
    (tmp_path / "b").write_bytes(b"")
    (tmp_path / "c").write_bytes(b'{"id":2}\n')
    out = tmp_path / "out.jsonl"
    merge_files(
        [str(tmp_path / n) for n in "abc"], str(out), str(out) + ".part", "jsonl", fsync=False
    )
    assert out.read_bytes() == b'{"id":1}\n{"id":2}\n'


records = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "name", "tags", "n", "extra", "ünï"]),
        st.one_of(st.none(), st.text(max_size=8), st.integers(), st.lists(st.text(max_size=3))),
        max_size=5,
    ),
    max_size=12,
)


@settings(max_examples=60)
@given(records=records, cuts=st.lists(st.integers(0, 12), max_size=4))
def test_csv_export_and_sharded_merge_agree_for_any_records(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]], cuts: list[int]
) -> None:
    tmp = tmp_path_factory.mktemp("csv")
    bounds = sorted({0, len(records), *(c for c in cuts if c <= len(records))})
    pages = [records[a:b] for a, b in itertools.pairwise(bounds)] or [[]]
    whole = write_csv(tmp, pages, "whole.csv")
    rows = parse_csv(whole.read_bytes())
    if not any(records):
        assert rows == [] or all(not r for r in records)
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    if columns:
        assert rows[0] == columns
        for record, row in zip(records, rows[1:], strict=True):
            assert len(row) == len(columns)
            for name, cell in zip(columns, row, strict=True):
                value = record.get(name)
                if value is None:
                    assert cell == ""
                elif isinstance(value, str):
                    assert cell == value
                else:
                    assert json.loads(cell) == value
    # Each page exported as its own shard and merged equals the single export.
    shards = [str(write_csv(tmp, [page], f"shard{i}.csv")) for i, page in enumerate(pages)]
    merged = tmp / "merged.csv"
    merge_files(shards, str(merged), str(merged) + ".part", "csv", fsync=False)
    assert merged.read_bytes() == whole.read_bytes()


def test_part_writer_refuses_a_partial_file_shorter_than_its_checkpoint(tmp_path: Path) -> None:
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    Path(paths.part).write_bytes(b"abc")
    with pytest.raises(ExportError, match="shorter"):
        PartWriter(paths, offset=10, fsync=False)


def test_part_writer_cuts_back_to_the_checkpoint(tmp_path: Path) -> None:
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    Path(paths.part).write_bytes(b'{"id":1}\n{"id":2}\n{"id":')
    writer = PartWriter(paths, offset=9, fsync=False)
    writer.append(b'{"id":9}\n')
    writer.commit(SavedState(format="jsonl", pager={"done": True}, offset=writer.offset))
    writer.close()
    assert Path(paths.part).read_bytes() == b'{"id":1}\n{"id":9}\n'
    state = read_state(paths)
    assert state is not None
    assert state.offset == 18
    assert state.done


@pytest.mark.skipif(os.name == "nt", reason="flock is POSIX only")
def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    first = PartWriter(paths, offset=0, fsync=False)
    try:
        with pytest.raises(ExportError, match="another export"):
            PartWriter(paths, offset=0, fsync=False)
    finally:
        first.close()


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"kind": "something else"}',
        b'{"kind": "accutics_async.export", "version": 99}',
        b'{"kind": "accutics_async.export", "version": 1, "format": "xml", "pager": {}, '
        b'"offset": 0, "records": 0, "pages": 0}',
        b'{"kind": "accutics_async.export", "version": 1, "format": "csv", "pager": {}, '
        b'"offset": -1, "records": 0, "pages": 0}',
    ],
)
def test_bad_checkpoint_files_are_export_errors(tmp_path: Path, content: bytes) -> None:
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    Path(paths.checkpoint).write_bytes(content)
    with pytest.raises(ExportError):
        read_state(paths)


def test_errors_are_accutics_errors_and_pickle() -> None:
    import pickle

    exc = CheckpointExistsError("busy", path="/x.checkpoint.json")
    assert isinstance(exc, ExportError)
    assert isinstance(exc, AccuticsError)
    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == "busy"
    assert again.path == "/x.checkpoint.json"


def test_shard_spec_round_trips_through_json() -> None:
    spec = ShardSpec(
        path="/stream/records",
        out="/tmp/x.shard-001-of-002",
        search="created_at:lt:2024-01-01T00:00:00Z",
        sort="created_at",
        page_size=100,
        format="csv",
        params=[("a", "1")],
        index=0,
        count=2,
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert ShardSpec.from_dict(data) == spec
    assert data["params"] == [["a", "1"]]


@pytest.mark.parametrize(
    "data",
    [
        {"path": "/r", "out": "o", "unknown": 1},
        {"path": "/r"},
        {"path": "/r", "out": "o", "format": "xml"},
        {"path": "/r", "out": "o", "page_size": "10"},
    ],
)
def test_shard_spec_from_dict_refuses_what_does_not_fit(data: dict[str, Any]) -> None:
    with pytest.raises(ExportError):
        ShardSpec.from_dict(data)


@pytest.mark.parametrize(
    "rows",
    [[["a\x00b", ""]], [[""]], [["\x00"], ["x,y", 'q"uote', "line\r\nbreak", ""]], [[]]],
)
def test_csv_text_without_the_csv_module_matches_it(rows: list[list[str]]) -> None:
    """The fallback for Python 3.10 (which cannot write NUL) writes what csv.writer writes."""
    from accutics_async.export import _formats as _export_formats

    class Refusing:
        Error = csv.Error

        @staticmethod
        def writer(*_: Any, **__: Any) -> Any:
            raise csv.Error("need to escape, but no escapechar set")

    expected = "".join(_export_formats._csv_text([row]) for row in rows)
    saved = _export_formats.csv
    _export_formats.csv = Refusing  # type: ignore[assignment]
    try:
        fallback = _export_formats._csv_text(rows)
    finally:
        _export_formats.csv = saved
    assert fallback == expected
    assert parse_csv(fallback.encode()) == rows


def _append_pages(paths: ExportPaths, pages: list[bytes], *, offset: int = 0) -> None:
    writer = PartWriter(paths, offset=offset, fsync=False)
    try:
        for page in pages:
            writer.append(page)
        writer.commit(SavedState(format="jsonl", pager={}, offset=0))
    finally:
        writer.close()


@pytest.mark.usefixtures("advice_done_at_once")
def test_part_writer_hands_written_pages_back_to_the_kernel(
    tmp_path: Path, fake_advice: FakeAdvice
) -> None:
    # An export is written once: every window of bytes already in the file
    # is advised away, each advice starting at the window before (written
    # back by then) and never past the bytes appended.
    calls: list[tuple[int, int, int]] = []
    fake_advice(lambda fd, start, length, advice: calls.append((start, length, advice)), 100)
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    Path(paths.part).write_bytes(b"x" * 30)
    pages = [bytes([65 + n % 26]) * 60 + b"\n" for n in range(9)]
    _append_pages(paths, pages, offset=30)
    assert Path(paths.part).read_bytes() == b"x" * 30 + b"".join(pages)
    dontneed = 4
    # 61 bytes a page from offset 30: windows end at 152, 274, 396, 518.
    assert calls == [
        (30, 122, dontneed),
        (30, 244, dontneed),
        (152, 244, dontneed),
        (274, 244, dontneed),
    ]


def test_part_writer_never_waits_for_an_advice_and_closes_only_after_it(
    tmp_path: Path, fake_advice: FakeAdvice
) -> None:
    # The advice submits writeback, which can block on the disk: the appends
    # go on meanwhile, a window due while it runs starts no second one, and
    # close() waits for it, since it uses the file descriptor.
    entered, release = threading.Event(), threading.Event()
    calls: list[tuple[int, int]] = []
    still_open: list[bool] = []

    def fadvise(fd: int, start: int, length: int, advice: int) -> None:
        calls.append((start, length))
        entered.set()
        assert release.wait(timeout=10)
        still_open.append(os.fstat(fd).st_ino == os.stat(paths.part).st_ino)

    fake_advice(fadvise, 100)
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    writer = PartWriter(paths, offset=0, fsync=False)
    try:
        writer.append(b"a" * 150)
        assert entered.wait(timeout=10)
        writer.append(b"b" * 150)
        writer.append(b"c" * 150)  # two windows more while the first advice is held
        assert calls == [(0, 150)]
        closing = threading.Thread(target=writer.close)
        closing.start()
        closing.join(timeout=0.2)
        assert closing.is_alive()  # close() waits for the advice
        release.set()
        closing.join(timeout=10)
        assert not closing.is_alive()
    finally:
        release.set()
        writer.close()
    assert still_open == [True]
    assert Path(paths.part).read_bytes() == b"a" * 150 + b"b" * 150 + b"c" * 150


def test_part_writer_appends_when_no_thread_can_be_started_for_the_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_advice: FakeAdvice
) -> None:
    def no_thread(*_: Any) -> Future[None]:
        raise RuntimeError("can't start new thread")

    fake_advice(lambda *_: None, 10)
    monkeypatch.setattr(drop_behind, "_in_background", no_thread)
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    pages = [b'{"id":%d}\n' % n for n in range(20)]
    _append_pages(paths, pages)
    assert Path(paths.part).read_bytes() == b"".join(pages)


@pytest.mark.usefixtures("advice_done_at_once")
def test_part_writer_loses_nothing_when_the_kernel_refuses_the_advice(
    tmp_path: Path, fake_advice: FakeAdvice
) -> None:
    def refuse(fd: int, start: int, length: int, advice: int) -> None:
        raise OSError(22, "Invalid argument")

    fake_advice(refuse, 10)
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    pages = [b'{"id":%d}\n' % n for n in range(50)]
    _append_pages(paths, pages)
    assert Path(paths.part).read_bytes() == b"".join(pages)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_part_writer_drop_behind_with_the_real_advice_keeps_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drop_behind, "_DROP_BEHIND_BYTES", 64 * 1024)
    paths = ExportPaths.for_out(tmp_path / "out.jsonl")
    pages = [os.urandom(40_000) for _ in range(20)]
    _append_pages(paths, pages)
    assert Path(paths.part).read_bytes() == b"".join(pages)
