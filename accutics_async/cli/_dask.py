"""``accutics export ... --shards N --dask SCHEDULER_ADDRESS``: the export as Dask tasks.

This side needs no token: the workers read theirs (``ACCUTICS_TOKEN`` or
``ACCUTICS_TOKEN_FILE``) and plan the shards too. The base URL, from
``--base-url`` or this side's ``$ACCUTICS_BASE_URL``, goes with the tasks;
without either, the workers use their own ``$ACCUTICS_BASE_URL``. Dask's
own settings (connect timeout, TLS, ...) come from its configuration
(``DASK_*`` variables, ``~/.config/dask``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .._sansio.search import Search
from .._threads import in_thread
from ..errors import TransportError
from ..export._dask import export_on_dask
from ..export._destination import discard_export
from . import _checks as checks
from ._exits import UsageError
from ._output import err, progress_bar, summary

__all__ = ["check_dask_args", "export_on_dask_cli"]


def check_dask_args(args: argparse.Namespace) -> None:
    """Refuse what ``--dask`` cannot honour (``UsageError``), before any connection."""
    if not args.shards:
        raise UsageError("--dask needs --shards N (one Dask task per shard)")
    if args.out == "-":
        raise UsageError("--dask needs a file for --out: the shards are merged into it")
    if args.token_file:
        raise UsageError(
            "--token-file does not apply with --dask: the workers read the token from "
            "their own environment (ACCUTICS_TOKEN or ACCUTICS_TOKEN_FILE)"
        )
    if getattr(args, "rate_limit", None) is not None:
        # Each worker runs its own client, so no one bucket could hold the
        # rate for all of them; the workers adapt to 429s on their own.
        raise UsageError("--rate-limit does not apply with --dask: each worker has its own client")
    for flag, given in (
        ("--timeout", getattr(args, "timeout", None) is not None),
        ("--allow-insecure", getattr(args, "allow_insecure", False)),
    ):
        if given:
            # Client settings would have to travel with every task; the
            # workers' clients use their defaults, so refuse rather than ignore.
            raise UsageError(f"{flag} does not apply with --dask: each worker has its own client")


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask needs distributed: pip install 'accutics-async[dask]'") from None
    try:
        make: Any = Client  # untyped
        return make(address)
    except (ValueError, TypeError) as exc:  # an address Dask cannot parse
        raise UsageError(f"--dask: {exc}") from None
    except OSError as exc:  # refused, unreachable, timed out (TimeoutError is an OSError)
        raise TransportError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


async def export_on_dask_cli(
    args: argparse.Namespace, *, fmt: str, search: Search | None, sort: str | None
) -> int:
    """Run ``accutics export`` with ``--dask`` (arguments checked by the caller); exit code 0."""
    check_dask_args(args)
    base_url = args.base_url or os.environ.get("ACCUTICS_BASE_URL") or None
    if base_url is not None:
        source = "--base-url" if args.base_url else "ACCUTICS_BASE_URL"
        base_url = checks.check_base_url(base_url, source=source, allow_insecure=False)
        checks.check_path(args.path, base_url)
    dask_client = await in_thread(_connect, args.dask)
    try:
        if args.restart:
            discard_export(args.out)
        context, progress = progress_bar(args, f"exporting {args.path} on {args.dask}")
        with context:
            result = await export_on_dask(
                dask_client,
                args.path,
                args.out,
                shards=args.shards,
                format=fmt,
                search=search,
                sort=sort,
                page_size=args.page_size,
                # --concurrency is one budget for all shards together
                concurrency=max(1, args.concurrency // args.shards),
                base_url=base_url,
                resume=args.resume,
                progress=progress,
                fsync=not args.no_fsync,
                checkpoint_every=args.checkpoint_every,
            )
    finally:
        await in_thread(dask_client.close)
    err(summary(result))
    return 0
