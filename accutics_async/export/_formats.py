"""Export formats: JSON Lines and CSV encoders, and the raw CSV record handling.

No I/O beyond the file objects handed in. CSV choices (see
:mod:`accutics_async.export`): RFC 4180 with CRLF, UTF-8, columns in
first-seen order, the header rewritten once at the end if records brought
new columns, cells as text with lists and objects as JSON.

Rewriting and merging work on raw CSV records, found by counting quotes
(an odd count so far means "inside a field"), not with ``csv.reader``: no
field size limit applies, and the bytes written back are exactly the bytes
our writer produced, so a rewritten or merged file is byte-identical to one
written in one go.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any

import orjson

from .._sansio.converter import CONVERTER
from ..errors import ExportError

__all__ = [
    "FORMATS",
    "CsvEncoder",
    "JsonlEncoder",
    "csv_rows",
    "finish_csv",
    "merge_csv",
]

FORMATS = ("jsonl", "csv")
_CRLF = b"\r\n"  # RFC 4180 line break
# One field as our CSV writer produced it: quoted (quotes doubled inside) or bare.
_RAW_FIELD = re.compile(rb'"[^"]*(?:""[^"]*)*"|[^,"\r\n]*')

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` as ``csv.writer(lineterminator="\r\n")`` writes them.

    Python 3.10's csv module cannot write a NUL at all ("need to escape, but
    no escapechar set"); 3.11+ write it as is. Only then is the same text
    built here, so the file does not depend on the interpreter.
    """
    buffer = io.StringIO()
    try:
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue()
    except csv.Error:
        pass
    lines = []
    for row in rows:
        if len(row) == 1 and not row[0]:
            lines.append('""\r\n')  # as csv.writer: a lone empty field is not a blank line
            continue
        fields = ('"' + f.replace('"', '""') + '"' if _NEEDS_QUOTES.search(f) else f for f in row)
        lines.append(",".join(fields) + "\r\n")
    return "".join(lines)


def _plain(item: Any) -> Any:
    # Pagers built with model= hand out attrs instances; write what the API sent.
    return item if isinstance(item, (dict, list, str, int, float)) else CONVERTER.unstructure(item)


def _json_default(value: Any) -> Any:
    # orjson writes UUIDs, dates, datetimes and Enums itself; a Decimal is
    # written as its exact text, as a string (a float could round it).
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


# The API's JSON form of typed values (what a model= item's fields came
# from): UUIDs and dates as strings, UTC datetimes in ISO 8601 with "Z" as
# the API writes them (orjson's default is "+00:00"), Enums as their value.
_JSON_OPTION = orjson.OPT_UTC_Z
_JSONL_OPTION = _JSON_OPTION | orjson.OPT_APPEND_NEWLINE


def to_json(value: Any, option: int = 0) -> bytes:
    """``value`` as compact JSON in the API's form; ``TypeError`` for what JSON cannot hold."""
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTION | option)


class JsonlEncoder:
    """JSON Lines: one compact JSON object per line, UTF-8, ``\\n`` after each."""

    format = "jsonl"

    def encode(self, items: Sequence[Any]) -> bytes:
        # What to_json(_plain(item)) gives for each item, inlined: an export
        # of dicts (a JSON object per record) makes no Python call per record
        # but orjson's, about a fifth of encoding a page.
        dumps, default, option = orjson.dumps, _json_default, _JSONL_OPTION
        try:
            return b"".join(
                [
                    dumps(item if item.__class__ is dict else _plain(item), default, option)
                    for item in items
                ]
            )
        except TypeError as exc:
            raise ExportError(f"a record cannot be written as JSON: {exc}") from exc

    def state(self) -> dict[str, Any]:
        return {}

    @property
    def needs_rewrite(self) -> bool:
        return False


def _cell(value: Any) -> str:
    """One CSV field: text as is, null as empty, booleans and numbers as JSON, others as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    try:
        text = to_json(value)
    except TypeError as exc:
        raise ExportError(f"a field cannot be written as JSON text: {exc}") from exc
    # A typed scalar (UUID, date, datetime, Decimal, a str Enum) is a JSON
    # string: the cell is its text, not the text wrapped in quotes again.
    return str(orjson.loads(text)) if text[:1] == b'"' else text.decode()


class CsvEncoder:
    """CSV (RFC 4180: ``,``, ``"`` quoting, CRLF) with a header row, UTF-8.

    ``columns`` grows in first-seen order as records bring new keys;
    ``header`` is what the file's header row says (the columns known when
    the first record was written; ``None`` until then). When they differ at
    the end the file is rewritten once (:func:`finish_csv`).
    """

    format = "csv"

    def __init__(self, columns: Sequence[str] = (), header: Sequence[str] | None = None) -> None:
        self.columns = list(columns)
        self._known = set(self.columns)
        self.header = None if header is None else list(header)

    def encode(self, items: Sequence[Any]) -> bytes:
        rows = [_plain(item) for item in items]
        for row in rows:
            if not isinstance(row, Mapping):
                raise ExportError(f"CSV export needs JSON objects, got {type(row).__name__}")
            for key in row:
                if key not in self._known:
                    self._known.add(key)
                    self.columns.append(key)
        lines: list[list[str]] = []
        if rows and self.header is None:
            self.header = list(self.columns)
            lines.append(self.header)
        columns = self.columns
        lines.extend([_cell(row.get(name)) for name in columns] for row in rows)
        return _csv_text(lines).encode("utf-8")

    def state(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "header": self.header}

    @property
    def needs_rewrite(self) -> bool:
        return self.header is not None and self.columns != self.header


def header_line(columns: Sequence[str]) -> bytes:
    return _csv_text([list(columns)]).encode("utf-8")


def _csv_records(stream: IO[bytes]) -> Iterator[bytes]:
    """Each CSV record of ``stream`` as raw bytes ending in CRLF.

    A record ends at a line break outside quotes: quotes come in pairs
    (``""`` escapes one), so an odd count so far means we are inside a field.
    Raw bytes, not ``csv.reader``, so no field size limit applies and the
    bytes written back are exactly those read.
    """
    pending: list[bytes] = []
    quotes = 0
    for line in stream:
        pending.append(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0 and line.endswith(_CRLF):
            yield b"".join(pending)
            pending, quotes = [], 0
    if pending:
        raise ExportError("the CSV file ends inside a record")


def csv_rows(path: str) -> int:
    """How many records the CSV file at ``path`` holds below its header (no field size limit)."""
    with open(path, "rb") as stream:
        return max(0, sum(1 for _ in _csv_records(stream)) - 1)


def _split_record(record: bytes) -> list[bytes]:
    body = record[:-2] if record.endswith(_CRLF) else record
    fields: list[bytes] = []
    pos = 0
    while True:
        match = _RAW_FIELD.match(body, pos)
        assert match is not None  # the pattern matches the empty string
        fields.append(match.group())
        pos = match.end()
        if pos >= len(body):
            return fields
        if body[pos : pos + 1] != b",":
            raise ExportError("malformed CSV record in a partial or shard file")
        pos += 1


def _unquote(field: bytes) -> bytes:
    return field[1:-1].replace(b'""', b'"') if field.startswith(b'"') else field


def _read_header(stream: IO[bytes]) -> list[str]:
    for record in _csv_records(stream):
        # Not csv.reader: on Python 3.10 it refuses a NUL ("line contains NUL").
        if record == _CRLF:  # a header with no columns, as csv.reader reads it
            return []
        return [_unquote(field).decode("utf-8") for field in _split_record(record)]
    return []


def _copy_rows(stream: IO[bytes], dst: IO[bytes], mapping: Sequence[int | None]) -> None:
    """Copy records, placing source field ``mapping[i]`` at position ``i`` (None: empty)."""
    for record in _csv_records(stream):
        fields = _split_record(record)
        out = [fields[i] if i is not None and i < len(fields) else b"" for i in mapping]
        # As csv.writer does: an empty field is written bare, except as the
        # only field of a row, where it is "" so the row is not a blank line.
        if len(out) == 1:
            line = out[0] or b'""'
        else:
            line = b",".join(b"" if field == b'""' else field for field in out)
        dst.write(line + _CRLF)


def finish_csv(part: str, columns: Sequence[str], dst: IO[bytes]) -> None:
    """Write ``part`` to ``dst`` with the header ``columns``, every row padded to it.

    New columns were only ever appended, so a row written earlier lacks only
    trailing fields.
    """
    with open(part, "rb") as src:
        _read_header(src)
        dst.write(header_line(columns))
        _copy_rows(src, dst, range(len(columns)))


def merge_csv(sources: Sequence[str], dst: IO[bytes]) -> None:
    # Shards with no records are empty files; a shard whose records had no
    # keys at all has an empty header line, and still takes part.
    shards: list[tuple[str, list[str]]] = []
    union: list[str] = []
    for source in sources:
        if os.path.getsize(source) == 0:
            continue
        with open(source, "rb") as src:
            header = _read_header(src)
        shards.append((source, header))
        union.extend(name for name in header if name not in union)
    if not shards:
        return
    dst.write(header_line(union))
    for source, header in shards:
        with open(source, "rb") as src:
            _read_header(src)
            if header == union:
                shutil.copyfileobj(src, dst, 1 << 20)
            else:
                where = {name: i for i, name in enumerate(header)}
                _copy_rows(src, dst, [where.get(name) for name in union])
