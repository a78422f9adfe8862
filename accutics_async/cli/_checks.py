"""Checks of the ``accutics`` command line, made before any request, in the command's terms.

Every bad argument is a :class:`UsageError` (exit 2) whose one line names
the flag; the library's own errors name its Python arguments, which mean
nothing on a command line. Also: dashed values (``--sort -created_at``) and
``--resume`` against what an interrupted export was started with.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from typing import Any

from .._sansio.protocol import build_url, is_loopback_url, validate_base_url
from .._sansio.query import Query, path_query_names
from ..errors import (
    ConfigurationError,
    ExportError,
    InvalidRequestError,
    SearchSyntaxError,
    SyncError,
    UnsafeURLError,
)
from ..export._files import STDOUT, ExportPaths, check_destination, read_state
from ..export._plan import check_shard_sort
from ..export._shards import ShardPlan
from ._exits import UsageError

__all__ = [
    "check_base_url",
    "check_export_args",
    "check_out",
    "check_path",
    "check_resume",
    "fake_token",
    "finished_export",
    "in_flags",
    "non_negative",
    "positive_seconds",
    "seconds",
    "seed",
    "whole_number",
]


# -- argument types (argparse names the flag in its message) -----------------------


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def whole_number(text: str) -> int:
    """``text`` as an int, or the argument error every whole-number flag gives."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def non_negative(text: str) -> int:
    """A whole number, 0 or more."""
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def seed(text: str) -> int:
    """A seed for the fake server's data: a whole number that fits 64 bits."""
    value = whole_number(text)
    if not -(2**63) <= value < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit in 64 bits")
    return value


def fake_token(text: str) -> str:
    """A token for the fake server: sent in a header, so no whitespace or control characters."""
    if not text or re.search(r"[\x00-\x20\x7f]", text):
        raise argparse.ArgumentTypeError("must be non-empty, without spaces or control characters")
    return text


# -- connection and destination -------------------------------------------------------


def check_base_url(base_url: str, *, source: str, allow_insecure: bool) -> str:
    """``base_url`` checked as the client will (``source`` names where it came from)."""
    try:
        checked = validate_base_url(base_url, allow_insecure=True)
    except ConfigurationError as exc:
        raise UsageError(f"{source}: {exc}") from None
    if checked.startswith("http:") and not allow_insecure and not is_loopback_url(checked):
        raise UsageError(
            f"{source}: refusing plain http to {base_url}: the token would travel in clear "
            "text; use https, or pass --allow-insecure if you really mean it"
        )
    return checked


def check_path(path: str, base_url: str) -> None:
    """PATH as the client will take it: under the base URL, or a URL on its origin."""
    try:
        build_url(base_url, path)
    except (InvalidRequestError, UnsafeURLError) as exc:
        raise UsageError(f"PATH: {exc}") from None


def check_out(out: str, flag: str = "--out") -> None:
    """``out`` is ``-`` or a path a regular file can go to."""
    try:
        ExportPaths.for_out(out)
        check_destination(out)
    except ExportError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def check_export_args(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The export's search and sort, parsed; every flag checked that can be before a request."""
    from .._sansio.search import Search
    from .._sansio.sort import format_sort

    try:
        search = Search.parse(args.search) if args.search is not None else None
    except SearchSyntaxError as exc:
        raise UsageError(f"--search: {exc}") from None
    try:
        sort = format_sort(args.sort) if args.sort is not None else None
    except SearchSyntaxError as exc:
        raise UsageError(f"--sort: {exc}") from None
    check_out(args.out)
    if args.out == STDOUT and args.resume:
        raise UsageError("--resume: standard output (--out -) is streamed and cannot be resumed")
    if args.shards:
        if args.out == STDOUT:
            raise UsageError(
                "--shards: a sharded export cannot go to standard output (--out -): "
                "its shards need files beside it"
            )
        try:
            check_shard_sort(sort, "created_at")
        except ExportError as exc:
            raise UsageError(f"--sort: {exc}") from None
    return search, sort


def check_sync_args(args: argparse.Namespace) -> Any:
    """The sync's search, parsed; --into, --key and --table checked as the sync will."""
    from .._sansio.search import Search
    from ..sync._keys import check_key, is_sql_name, last_segment, sink_kind, table_name

    try:
        search = Search.parse(args.search) if args.search is not None else None
    except SearchSyntaxError as exc:
        raise UsageError(f"--search: {exc}") from None
    check_out(args.into, "--into")
    try:
        check_key(args.key)
    except SyncError as exc:
        raise UsageError(f"--key: {exc}") from None
    in_path = path_query_names(args.path)
    clash = sorted(in_path & {"search", "sort"})
    if clash:
        raise UsageError(
            f"PATH: its query sets {clash[0]!r}, which the sync sets itself; use --search"
        )
    if "page_size" in in_path and args.page_size is not None:
        raise UsageError("--page-size: PATH's query sets page_size too; pass it one way only")
    if sink_kind(args.into) != "sqlite":
        if args.table is not None:
            raise UsageError("--table: a change log (--into FILE.jsonl) has no table")
        return search
    try:
        table_name(args.path, args.table)
    except SyncError as exc:
        if args.table is None:
            # The segment alone: the rest of PATH (its query) may hold anything.
            last = last_segment(args.path)
            why = "is reserved" if is_sql_name(last) else "is not a plain SQL name"
            raise UsageError(
                f"--table: the table is named after PATH's last segment, and {last!r} {why}; "
                "pass --table NAME"
            ) from None
        if not is_sql_name(args.table):
            raise UsageError(
                f"--table: {args.table!r} is not a plain SQL name (letters, digits and _, "
                "not starting with a digit)"
            ) from None
        raise UsageError(f"--table: {exc}") from None
    return search


# -- --resume -------------------------------------------------------------------------


def _option(flag: str, value: Any) -> str:
    if flag == "PATH":
        return f"for {value}"
    return f"without {flag}" if value is None else f"with {flag} {value}"


def _contradiction(out: str, flag: str, saved: Any, asked: Any) -> UsageError:
    return UsageError(
        f"{flag}: the interrupted export into {out} was started {_option(flag, saved)}, "
        f"not {_option(flag, asked)}; resume it with the options it was started with, "
        "or pass --restart to discard it and start over"
    )


_QUERY_FLAGS = (
    ("path", "PATH"),
    ("search", "--search"),
    ("sort", "--sort"),
    ("page_size", "--page-size"),
)


def check_resume(args: argparse.Namespace, *, fmt: str, search: Any, sort: str | None) -> None:
    """Refuse (exit 2) an option that contradicts the interrupted export ``--resume`` finishes.

    Compared: PATH, ``--search``, ``--sort``, ``--page-size``, the format and
    ``--shards``. A checkpoint that does not record its options (written by
    an older version) is left to the library, which still refuses a mismatch.
    """
    saved = _saved_options(args) if args.resume and args.out != STDOUT else None
    if saved is None:
        return
    saved_query, saved_format = saved
    if saved_format != fmt:
        raise UsageError(
            f"--format: the interrupted export into {args.out} writes {saved_format}, not "
            f"{fmt}; resume it with --format {saved_format}, or pass --restart to discard "
            "it and start over"
        )
    if saved_query is None:
        return
    asked = Query.of(args.path, search=search, sort=sort, page_size=args.page_size).recorded()
    for key, flag in _QUERY_FLAGS:
        if saved_query.get(key) != asked[key]:
            raise _contradiction(args.out, flag, saved_query.get(key), asked[key])


def _saved_options(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str] | None:
    """The query and format the interrupted export into OUT recorded, or ``None`` if none is.

    Also refuses a ``--shards`` that does not match how it was started.
    """
    paths = ExportPaths.for_out(args.out)
    plan = ShardPlan.load(paths)
    if plan is not None:
        # requested is None in a plan of an older version: then only "sharded" is known.
        if not args.shards or plan.requested not in (None, args.shards):
            raise _contradiction(args.out, "--shards", plan.requested or "N", args.shards)
        return plan.query, plan.format
    state = read_state(paths)
    if state is None:
        return None
    if args.shards:
        raise _contradiction(args.out, "--shards", None, args.shards)
    return state.query, state.format


def finished_export(args: argparse.Namespace) -> bool:
    """Whether ``--resume`` has nothing to finish and OUT is a complete export.

    Exports are atomic, so a file under the final name with no checkpoint,
    shard plan or partial file beside it is a finished one.
    """
    if not args.resume or args.out == STDOUT:
        return False
    paths = ExportPaths.for_out(args.out)
    working = (paths.checkpoint, paths.plan, paths.part)
    return os.path.isfile(paths.out) and not any(os.path.lexists(p) for p in working)


# The library's advice on an interrupted export's files names its Python API
# (``discard_export()``, ``resume=True``); on the command line that is --restart.
_PYTHON_ADVICE = re.compile(
    r"(?:; (?:resume with the same \w+|discard|remove it|pass resume=True)[^;]*"
    r"|[.;] (?:Start over|discard the checkpoint and start over)[^;]*)$"
)


def in_flags(message: str) -> str:
    """An ``ExportError`` message with the library's advice said in the command's flags."""
    head, found = _PYTHON_ADVICE.subn("", message)
    if not found:
        return message
    return f"{head.rstrip('.')}; pass --restart to discard the interrupted export and start over"
