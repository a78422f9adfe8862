"""What each ``accutics`` subcommand does: export, get, demo, fake-server and sync."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ..export import discard_export, export, export_sharded
from . import _checks as checks
from . import _sync as _cli_sync
from ._exits import EXIT_OK, UsageError
from ._output import err, progress_bar, summary
from ._safety import terminal_json

__all__ = ["COMMANDS", "client_options"]


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


def client_options(args: argparse.Namespace) -> dict[str, Any]:
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


async def _cmd_export(args: argparse.Namespace) -> int:
    from .._client import AccuticsClient

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
        from ._dask import export_on_dask_cli

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
    options = client_options(args)
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

    from .._client import AccuticsClient

    token, base_url = _credentials(args)
    params = []
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param takes NAME=VALUE, got {item!r}")
        params.append((name, value))
    async with AccuticsClient(token, base_url=base_url, **client_options(args)) as client:
        resp = await client.get(args.path, params=params)
    body = {"data": resp.data, "meta": dict(resp.meta.raw)}
    sys.stdout.buffer.write(terminal_json(orjson.dumps(body, option=orjson.OPT_INDENT_2)) + b"\n")
    sys.stdout.flush()
    return EXIT_OK


async def _cmd_demo(args: argparse.Namespace) -> int:
    from .._client import AccuticsClient
    from ..testing import FakeAccuticsServer

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
    # On standard error, as export's: with --out - standard output is the data.
    err(summary(result))
    return EXIT_OK


async def _cmd_fake_server(args: argparse.Namespace) -> int:
    import orjson

    from ..testing import FaultSpec, serve_forever

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
    return await _cli_sync.run(args, _credentials, client_options)


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "export": _cmd_export,
    "sync": _cmd_sync,
    "get": _cmd_get,
    "demo": _cmd_demo,
    "fake-server": _cmd_fake_server,
}
