"""``accutics sync``: keep a SQLite table or a change log current (see ``accutics_async.sync``).

::

    accutics sync /records --into taxonomy.sqlite              # every 15 minutes, from cron
    accutics sync /records --into taxonomy.sqlite --full       # now and then: drop deleted rows
    accutics sync /stream/records --into changes.jsonl --search 'input_medium:eq:email'

Registered by ``cli._parser`` (:func:`add_parser`) and run by
``cli._commands`` (:func:`run`). Exit codes are the export's; a run stopped
by Ctrl-C, SIGTERM or ``kill -9`` keeps what it committed, and running the
same command again finishes the job.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..sync import DEFAULT_LOOKBACK, SyncResult, sync
from ..sync._keys import SINK_SUFFIXES
from . import _checks as checks
from ._output import err, progress_bar

__all__ = [
    "add_parser",
    "interrupted_message",
    "run",
]

Adder = Callable[[argparse.ArgumentParser], None]


def _into(text: str) -> str:
    if not text.lower().endswith(tuple(SINK_SUFFIXES)):
        raise argparse.ArgumentTypeError(
            f"{text!r} ends in none of {', '.join(SINK_SUFFIXES)} (SQLite or a change log)"
        )
    return text


def add_parser(commands: Any, *, count: Callable[[str], int], common: list[Adder]) -> None:
    """Add the ``sync`` subcommand to ``commands`` (argparse's subparsers)."""
    cmd = commands.add_parser("sync", help="keep a SQLite table or a change log current")
    cmd.add_argument("path", metavar="PATH", help="listing path under the base URL, e.g. /records")
    cmd.add_argument(
        "--into",
        required=True,
        type=_into,
        metavar="FILE",
        help="FILE.sqlite / .sqlite3 / .db (a table) or FILE.jsonl (a change log)",
    )
    cmd.add_argument("--key", default="updated_at", metavar="K", help="default: updated_at")
    cmd.add_argument(
        "--search", metavar="S", help="filters every run, e.g. 'input_medium:eq:email'"
    )
    cmd.add_argument(
        "--lookback",
        type=checks.seconds,
        default=float(DEFAULT_LOOKBACK),
        metavar="SECONDS",
        help=f"re-read this much before the watermark (default {DEFAULT_LOOKBACK})",
    )
    cmd.add_argument("--full", action="store_true", help="walk everything; drop deleted rows")
    cmd.add_argument("--page-size", type=count, metavar="N")
    cmd.add_argument("--table", metavar="T", help="SQLite table (default: PATH's last segment)")
    cmd.add_argument("--no-fsync", action="store_true", help="faster; a power cut may lose pages")
    for add in common:
        add(cmd)


def summary(result: SyncResult) -> str:
    deleted = f", {result.deleted:,} deleted" if result.full and result.kind == "sqlite" else ""
    kind = "full sync" if result.full else "sync"
    return (
        f"{kind} of {result.path} into {result.into}: {result.upserted:,} changed, "
        f"{result.unchanged:,} unchanged{deleted} in {result.duration_s:.2f} s; "
        f"watermark {result.watermark or '-'}"
    )


def interrupted_message() -> str:
    return "interrupted; what was committed is kept: run the same command again to finish"


async def run(
    args: argparse.Namespace,
    credentials: Callable[[argparse.Namespace], Any],
    client_options: Callable[[argparse.Namespace], dict[str, Any]],
) -> int:
    """Run ``accutics sync`` with parsed ``args``.

    ``credentials(args)`` gives (token, base URL), ``client_options(args)``
    the client settings of the connection flags (``cli._commands`` owns both).
    """
    from .._client import AccuticsClient

    search = checks.check_sync_args(args)
    token, base_url = credentials(args)
    context, progress = progress_bar(args, f"syncing {args.path}")
    async with AccuticsClient(token, base_url=base_url, **client_options(args)) as client:
        with context:
            result = await sync(
                client,
                args.path,
                args.into,
                key=args.key,
                search=search,
                lookback=args.lookback,
                page_size=args.page_size,
                full=args.full,
                table=args.table,
                progress=progress,
                fsync=not args.no_fsync,
            )
    err(summary(result))
    return 0
