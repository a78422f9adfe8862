"""The ``accutics`` command: export, sync, get, demo and fake-server.

::

    accutics demo                                   # no account needed
    accutics export /records --out records.jsonl --search 'input_medium:eq:email'
    accutics export /stream/records --out records.csv --shards 8 --resume
    accutics get /records/ID
    accutics fake-server --port 8765 --records 1000000

The token comes only from ``$ACCUTICS_TOKEN`` or ``--token-file FILE``
(``-`` reads stdin): a ``--token`` flag would land in shell history and
``ps`` output. The base URL comes from ``--base-url`` or
``$ACCUTICS_BASE_URL``. (``fake-server --token`` only names the fake
server's own token.)

Exit codes (:data:`EXIT_CODES`): 0 done; 1 failed (export state, local
files, anything unexpected); 2 usage (any bad argument, in one line naming
the flag; search or sort syntax; no token or base URL; an interrupted export
found without ``--resume`` or ``--restart``, or resumed with options that
contradict it); 3 the API answered with an error (401, 403, 404, 429, 5xx
after retries); 4 no usable answer (connection, timeout, body not the
documented envelope, unsafe link, pagination loop); 130 interrupted by
Ctrl-C and 143 by SIGTERM, with the checkpoint saved: the same command
with ``--resume`` finishes the export.

Errors are one line on stderr, never a traceback (``ACCUTICS_DEBUG=1``
shows it). The progress bar (rich, from the ``cli`` extra, imported only
when drawn) goes to stderr; it is drawn when stderr is a terminal, or with
``--progress``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Sequence

from .. import errors
from ..export import CheckpointExistsError, ExportError
from . import _checks as checks
from . import _sync as _cli_sync
from ._commands import COMMANDS
from ._exits import EXIT_API, EXIT_FAILURE, EXIT_OK, EXIT_TRANSPORT, EXIT_USAGE, UsageError
from ._output import err
from ._parser import build_parser, join_dashed_values
from ._safety import read_token_file

__all__ = ["EXIT_CODES", "build_parser", "main"]


#: Exception class -> exit code, most specific first (the first match wins).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (CheckpointExistsError, EXIT_USAGE),
    (errors.SearchSyntaxError, EXIT_USAGE),
    (errors.ConfigurationError, EXIT_USAGE),
    (errors.InvalidRequestError, EXIT_USAGE),
    (errors.APIError, EXIT_API),
    (errors.TransportError, EXIT_TRANSPORT),
    (errors.DecodeError, EXIT_TRANSPORT),
    (errors.UnsafeURLError, EXIT_TRANSPORT),
    (errors.PaginationError, EXIT_TRANSPORT),
    (ExportError, EXIT_FAILURE),
    (OSError, EXIT_FAILURE),
)


# -- running ---------------------------------------------------------------------


async def _until_signal(command: Awaitable[int]) -> tuple[int | None, int | None]:
    """Run ``command``; SIGINT/SIGTERM cancel it. Returns (exit code, signal received)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        task.cancel()  # unwinds through the export: pages in flight end, files close

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
            pass
    try:
        return await command, None
    except asyncio.CancelledError:
        if not received:
            raise
        return None, received[0]
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _interrupted(args: argparse.Namespace, signum: int) -> int:
    if args.command == "sync":
        err(_cli_sync.interrupted_message())
        return 128 + signum
    out = getattr(args, "out", None)  # only export has one
    saved = (f"{out}.checkpoint.json", f"{out}.shards.json")
    if args.command == "export" and any(os.path.exists(path) for path in saved):
        err("interrupted; progress is saved: run the same command with --resume to finish")
    else:
        err("interrupted")
    return 128 + signum


def _message(exc: BaseException) -> str:
    """The one-line message for ``exc``, in the command's terms (flags, not Python arguments)."""
    if isinstance(exc, CheckpointExistsError):
        out = (exc.path or "").removesuffix(".checkpoint.json").removesuffix(".shards.json")
        return (
            f"an interrupted export into {out} exists ({exc.path}): run the same command "
            "with --resume to finish it, or with --restart to discard it and start over"
        )
    if isinstance(exc, ExportError) and not isinstance(exc.__cause__, OSError):
        return checks.in_flags(str(exc))
    if isinstance(exc, (errors.AccuticsError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _exit_code(exc: BaseException) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``accutics`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    words = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(join_dashed_values(parser, words))
    try:
        if getattr(args, "dask", None):
            # Before --token-file is read: with --dask it is refused, not used.
            from ._dask import check_dask_args

            check_dask_args(args)
        if getattr(args, "token_file", None):
            # Before the event loop and its signal handlers: a read that waits
            # (a terminal, a pipe) must stay interruptible by Ctrl-C.
            try:
                args.token_from_file = read_token_file(args.token_file, warn=err)
            except UsageError as exc:
                raise UsageError(f"--token-file: {exc}") from None
        code, signum = asyncio.run(_until_signal(COMMANDS[args.command](args)))
    except KeyboardInterrupt:  # pragma: no cover - where signal handlers cannot be installed
        return _interrupted(args, signal.SIGINT)
    except UsageError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    except Exception as exc:
        if os.environ.get("ACCUTICS_DEBUG"):
            raise
        err(f"error: {_message(exc)}")
        return _exit_code(exc)
    if signum is not None:
        if args.command == "fake-server":
            return EXIT_OK
        return _interrupted(args, signum)
    assert code is not None
    return code
