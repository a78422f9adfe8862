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
import ipaddress
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from . import _cli_checks as checks
from . import _cli_sync, errors
from ._cli_output import UsageError, err, progress_bar, summary
from ._cli_safety import read_token_file, terminal_json
from ._version import __version__
from .export import (
    CheckpointExistsError,
    ExportError,
    discard_export,
    export,
    export_sharded,
)

__all__ = ["EXIT_CODES", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_API, EXIT_TRANSPORT = 0, 1, 2, 3, 4

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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts read the last line.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(text: str) -> int:
    value = checks.whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of requests per second > 0: {text!r}")
    return value


def _port(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def _connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="API base URL (default: $ACCUTICS_BASE_URL)")
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the API token from FILE ('-': stdin) instead of $ACCUTICS_TOKEN",
    )
    parser.add_argument(
        "--timeout",
        type=checks.positive_seconds,
        metavar="SECONDS",
        help="bound each request attempt (default 30); retries follow the usual policy",
    )
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow plain http:// to a host that is not loopback (the token travels in clear)",
    )


def _rate_limit_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="R",
        help="at most R requests per second, all of this run together (default: adapt to 429s)",
    )


def _progress_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always draw it"
    )
    group.add_argument("--no-progress", dest="progress", action="store_false", help="never draw it")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``accutics`` (exposed for documentation tools)."""
    parser = _Parser(prog="accutics", description="Accutics Open API from the command line.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    exp = commands.add_parser("export", help="export a listing to JSON Lines or CSV")
    exp.add_argument("path", metavar="PATH", help="listing path under the base URL, e.g. /records")
    exp.add_argument("-o", "--out", required=True, metavar="FILE", help="destination file")
    exp.add_argument("--format", choices=("jsonl", "csv"), help="default: from FILE's suffix")
    exp.add_argument("--search", metavar="S", help="filters, e.g. 'input_medium:eq:email'")
    exp.add_argument(
        "--sort",
        metavar="S",
        help="e.g. -created_at (newest first) or created_at,id (sharded: default created_at)",
    )
    exp.add_argument("--page-size", type=_count, metavar="N")
    exp.add_argument(
        "--concurrency",
        type=_count,
        default=1,
        metavar="N",
        help="pages fetched at once, all shards together (page-number endpoints)",
    )
    exp.add_argument("--shards", type=_count, metavar="N", help="split by created_at into N parts")
    exp.add_argument(
        "--dask",
        metavar="SCHEDULER_ADDRESS",
        help="run the shards as tasks on this Dask cluster (extra 'dask'; OUT on shared storage)",
    )
    _rate_limit_arg(exp)
    again = exp.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="finish an interrupted export")
    again.add_argument("--restart", action="store_true", help="discard one and start over")
    exp.add_argument("--no-fsync", action="store_true", help="faster; a power cut may lose pages")
    exp.add_argument(
        "--checkpoint-every",
        type=checks.seconds,
        default=1.0,
        metavar="SECONDS",
        help="commit (fsync + checkpoint) at most this often; a kill redoes at most "
        "this much work (default 1; 0 = after every page)",
    )
    _connection_args(exp)
    _progress_args(exp)

    get = commands.add_parser("get", help="GET one path and print the JSON response")
    get.add_argument("path", metavar="PATH")
    get.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="query parameter"
    )
    _connection_args(get)

    demo = commands.add_parser("demo", help="export from a built-in fake server (no account)")
    demo.add_argument("--records", type=_count, default=5000, metavar="N")
    demo.add_argument("--out", default="accutics-demo.jsonl", metavar="FILE")
    _progress_args(demo)

    _cli_sync.add_parser(
        commands, count=_count, common=[_connection_args, _rate_limit_arg, _progress_args]
    )

    fake = commands.add_parser("fake-server", help="run the fake Accutics API until Ctrl-C")
    fake.add_argument("--port", type=_port, default=0, metavar="N", help="default: a free port")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--records", type=checks.non_negative, default=1000, metavar="N")
    fake.add_argument("--seed", type=checks.seed, default=1, metavar="N")
    fake.add_argument(
        "--token",
        type=checks.fake_token,
        metavar="T",
        help="the fake server's token (default: derived)",
    )
    fake.add_argument("--faults", metavar="SPEC", help="e.g. '500=0.05,429=2%%,reset=0.01'")
    fake.add_argument("--max-page-size", type=_count, default=100, metavar="N")
    fake.add_argument("--json", action="store_true", help="print the details as one JSON line")
    return parser


# -- helpers ---------------------------------------------------------------------


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    """The token and base URL, from the only places the CLI takes them."""
    if args.token_file:
        token = args.token_from_file  # read by main() before the event loop started
    else:
        token = os.environ.get("ACCUTICS_TOKEN", "").strip()
        if not token:
            raise UsageError("no API token: set ACCUTICS_TOKEN or pass --token-file FILE")
    base_url = args.base_url or os.environ.get("ACCUTICS_BASE_URL", "")
    if not base_url:
        raise UsageError("no base URL: pass --base-url URL or set ACCUTICS_BASE_URL")
    source = "--base-url" if args.base_url else "ACCUTICS_BASE_URL"
    base_url = checks.check_base_url(base_url, source=source, allow_insecure=args.allow_insecure)
    checks.check_path(args.path, base_url)
    return token, base_url


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The client settings the connection flags give (the client's defaults otherwise)."""
    options: dict[str, Any] = {"allow_insecure": args.allow_insecure}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if getattr(args, "rate_limit", None) is not None:
        options["rate_limit"] = args.rate_limit
    return options


def _is_loopback_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


# -- commands --------------------------------------------------------------------


async def _cmd_export(args: argparse.Namespace) -> int:
    from ._client import AccuticsClient

    fmt = args.format or ("csv" if args.out.lower().endswith(".csv") else "jsonl")
    search, sort = checks.check_export_args(args)
    if checks.finished_export(args):
        err(
            f"{args.out} is complete: there is no interrupted export to resume "
            "(run without --resume to export again)"
        )
        return EXIT_OK
    checks.check_resume(args, fmt=fmt, search=search, sort=sort)
    if args.dask:
        # The same checks as a local export first; the workers hold the token.
        from ._cli_dask import export_on_dask_cli

        return await export_on_dask_cli(args, fmt=fmt, search=search, sort=sort)
    token, base_url = _credentials(args)
    if args.restart:
        discard_export(args.out)
    context, progress = progress_bar(args, f"exporting {args.path}")
    common: dict[str, Any] = {
        "format": fmt,
        "search": search,
        "sort": sort,
        "page_size": args.page_size,
        "resume": args.resume,
        "progress": progress,
        "fsync": not args.no_fsync,
        "checkpoint_every": args.checkpoint_every,
    }
    # --concurrency is the budget for all shards together: the client's cap,
    # which the shards queue for (never raised to the number of shards).
    budget = args.concurrency
    options = _client_options(args)
    async with AccuticsClient(
        token, base_url=base_url, max_concurrency=budget, **options
    ) as client:
        with context:
            if args.shards:
                per_shard = max(1, args.concurrency // args.shards)
                result = await export_sharded(
                    client, args.path, args.out, shards=args.shards, concurrency=per_shard, **common
                )
            else:
                result = await export(
                    client, args.path, args.out, concurrency=args.concurrency, **common
                )
    err(summary(result))
    return EXIT_OK


async def _cmd_get(args: argparse.Namespace) -> int:
    import orjson

    from ._client import AccuticsClient

    token, base_url = _credentials(args)
    params = []
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param takes NAME=VALUE, got {item!r}")
        params.append((name, value))
    async with AccuticsClient(token, base_url=base_url, **_client_options(args)) as client:
        resp = await client.get(args.path, params=params)
    body = {"data": resp.data, "meta": dict(resp.meta.raw)}
    sys.stdout.buffer.write(terminal_json(orjson.dumps(body, option=orjson.OPT_INDENT_2)) + b"\n")
    sys.stdout.flush()
    return EXIT_OK


async def _cmd_demo(args: argparse.Namespace) -> int:
    from ._client import AccuticsClient
    from .testing import FakeAccuticsServer

    checks.check_out(args.out)
    context, progress = progress_bar(args, "exporting demo records")
    async with FakeAccuticsServer(records=args.records, seed=1) as server:
        err(f"fake Accutics API with {args.records:,} records at {server.base_url}")
        async with AccuticsClient(server.token, base_url=server.base_url) as client:
            # The fake server's port changes every run, so an old checkpoint cannot apply.
            discard_export(args.out)
            with context:
                result = await export(
                    client,
                    server.page_endpoint,
                    args.out,
                    page_size=100,
                    concurrency=4,
                    progress=progress,
                )
    print(summary(result), flush=True)
    return EXIT_OK


async def _cmd_fake_server(args: argparse.Namespace) -> int:
    import orjson

    from .testing import FaultSpec, serve_forever

    try:
        faults = FaultSpec.parse(args.faults) if args.faults else None
    except ValueError as exc:
        raise UsageError(f"bad --faults: {exc}") from None

    if not _is_loopback_host(args.host):
        err(
            f"warning: listening on {args.host}, not loopback: other machines can reach "
            "this fake server, and its token is printed below"
        )
    listening = False

    def ready(server: Any) -> None:
        nonlocal listening
        listening = True
        info = server.describe()
        if args.json:
            print(orjson.dumps(info).decode(), flush=True)
            return
        for key, value in info.items():
            print(f"{key}: {value}", flush=True)
        print(
            f"\nexport ACCUTICS_BASE_URL={info['base_url']} ACCUTICS_TOKEN={info['token']}\n"
            "(Ctrl-C stops the server)",
            flush=True,
        )

    try:
        await serve_forever(
            port=args.port,
            host=args.host,
            records=args.records,
            seed=args.seed,
            token=args.token,
            faults=faults,
            max_page_size=args.max_page_size,
            on_ready=ready,
        )
    except asyncio.CancelledError:
        return EXIT_OK  # Ctrl-C is how this command is meant to end
    except OSError as exc:
        if listening:
            raise
        # The address is in use, or the host does not resolve: the flags are at fault.
        raise UsageError(
            f"--host/--port: cannot listen on {args.host} port {args.port}: {exc.strerror or exc}"
        ) from None
    return EXIT_OK


async def _cmd_sync(args: argparse.Namespace) -> int:
    return await _cli_sync.run(args, _credentials, _client_options)


_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "export": _cmd_export,
    "sync": _cmd_sync,
    "get": _cmd_get,
    "demo": _cmd_demo,
    "fake-server": _cmd_fake_server,
}


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
    args = parser.parse_args(checks.join_dashed_values(parser, words))
    try:
        if getattr(args, "dask", None):
            # Before --token-file is read: with --dask it is refused, not used.
            from ._cli_dask import check_dask_args

            check_dask_args(args)
        if getattr(args, "token_file", None):
            # Before the event loop and its signal handlers: a read that waits
            # (a terminal, a pipe) must stay interruptible by Ctrl-C.
            try:
                args.token_from_file = read_token_file(args.token_file, warn=err)
            except UsageError as exc:
                raise UsageError(f"--token-file: {exc}") from None
        code, signum = asyncio.run(_until_signal(_COMMANDS[args.command](args)))
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
