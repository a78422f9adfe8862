"""The ``accutics`` command line: its subcommands, flags and their value types (argparse)."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from . import _checks as checks
from . import _sync as _cli_sync
from ._exits import EXIT_USAGE

__all__ = ["build_parser", "join_dashed_values"]


class Parser(argparse.ArgumentParser):
    """argparse's parser with one-line errors, which knows its own options.

    argparse keeps its list of actions private; :func:`join_dashed_values`
    needs every option string (and which take a value), so each parser
    records what is added to it, its subcommands' parsers included.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: set[str] = set()  # set before argparse adds -h/--help
        self.valued: set[str] = set()
        self.subcommands: list[Parser] = []
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts read the last line.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return self.record(super().add_argument(*args, **kwargs))

    def add_mutually_exclusive_group(self, *, required: bool = False) -> Any:
        return _RecordedGroup(self, super().add_mutually_exclusive_group(required=required))

    def add_subparsers(self, **kwargs: Any) -> Any:
        # argparse calls parser_class(**options) for each subcommand; typeshed wants a class.
        factory: Any = functools.partial(_subcommand, self)
        return super().add_subparsers(parser_class=factory, **kwargs)

    def record(self, action: argparse.Action) -> argparse.Action:
        self.options.update(action.option_strings)
        if action.option_strings and action.nargs is None:
            self.valued.update(action.option_strings)
        return action


def _subcommand(parent: Parser, **kwargs: Any) -> Parser:
    child = Parser(**kwargs)
    parent.subcommands.append(child)
    return child


class _RecordedGroup:
    """A mutually exclusive group whose options its parser records."""

    def __init__(self, parser: Parser, group: Any) -> None:
        self._parser = parser
        self._group = group

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action: argparse.Action = self._group.add_argument(*args, **kwargs)
        return self._parser.record(action)


def _every_option(parser: Parser, every: set[str], valued: set[str]) -> None:
    every.update(parser.options)
    valued.update(parser.valued)
    for child in parser.subcommands:
        _every_option(child, every, valued)


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


def build_parser() -> Parser:
    """The argument parser of ``accutics`` (exposed for documentation tools)."""
    parser = Parser(prog="accutics", description="Accutics Open API from the command line.")
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


def join_dashed_values(parser: Parser, argv: Sequence[str]) -> list[str]:
    """``--sort -created_at`` as ``--sort=-created_at``, which argparse reads as a value.

    argparse takes any word starting with ``-`` for an option, so the value
    a sort most often has (descending) would fail with "expected one
    argument". A word that is itself one of the command's options is left
    alone (``--sort --resume`` is still an error), and so is ``--`` and
    anything after it.
    """
    every: set[str] = set()
    valued: set[str] = set()
    _every_option(parser, every, valued)
    words = list(argv)
    joined: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            joined.extend(words[i:])
            break
        following = words[i + 1] if i + 1 < len(words) else None
        if (
            word in valued
            and following is not None
            and following.startswith("-")
            and following not in ("-", "--")
            and following.split("=", 1)[0] not in every
        ):
            # "-o-x" for a short option: argparse would keep the "=" of "-o=-x".
            joined.append(f"{word}={following}" if word.startswith("--") else word + following)
            i += 2
            continue
        joined.append(word)
        i += 1
    return joined
