"""How ``accutics`` reads values that start with ``-`` and its argument types (in-process, pure)."""

from __future__ import annotations

import argparse

import pytest

from accutics_async.cli import build_parser
from accutics_async.cli._checks import (
    in_flags,
    non_negative,
    positive_seconds,
    seconds,
)
from accutics_async.cli._parser import join_dashed_values


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["export", "/r", "--sort", "-created_at"], ["export", "/r", "--sort=-created_at"]),
        (["export", "/r", "-o", "-x.jsonl"], ["export", "/r", "-o-x.jsonl"]),
        (["export", "/r", "--out", "-"], ["export", "/r", "--out", "-"]),  # stdout
        (["export", "/r", "--sort", "--resume"], ["export", "/r", "--sort", "--resume"]),
        (["export", "/r", "--sort", "-o"], ["export", "/r", "--sort", "-o"]),  # an option
        (["export", "/r", "--", "--sort", "-x"], ["export", "/r", "--", "--sort", "-x"]),
        (["export", "/r", "--resume", "-o", "x"], ["export", "/r", "--resume", "-o", "x"]),
        (["fake-server", "--records", "-5"], ["fake-server", "--records=-5"]),
    ],
)
def test_dashed_values_are_joined_to_their_option(argv: list[str], expected: list[str]) -> None:
    assert join_dashed_values(build_parser(), argv) == expected


def test_a_joined_value_parses_as_the_value() -> None:
    parser = build_parser()
    argv = ["export", "/r", "-o", "-x.jsonl", "--sort", "-created_at,id"]
    args = parser.parse_args(join_dashed_values(parser, argv))
    assert (args.out, args.sort) == ("-x.jsonl", "-created_at,id")


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "-inf", "soon", ""])
def test_seconds_refuses_what_is_not_a_finite_non_negative_number(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(text)


def test_seconds_and_positive_seconds() -> None:
    assert seconds("0") == 0.0
    assert seconds("1.5") == 1.5
    assert positive_seconds("0.25") == 0.25
    with pytest.raises(argparse.ArgumentTypeError):
        positive_seconds("0")
    assert non_negative("0") == 0
    with pytest.raises(argparse.ArgumentTypeError):
        non_negative("-5")


def test_library_advice_is_said_in_flags() -> None:
    text = in_flags(
        "x.checkpoint.json belongs to another export (path, search, sort, page size or "
        "server differ); resume with the same arguments, or discard_export() it"
    )
    assert text == (
        "x.checkpoint.json belongs to another export (path, search, sort, page size or "
        "server differ); pass --restart to discard the interrupted export and start over"
    )
    assert in_flags(
        "x.part is missing but x.checkpoint.json expects it; discard the checkpoint and start over"
    ).endswith("pass --restart to discard the interrupted export and start over")
    plain = "x.shards.json says the shards were merged; x is missing"
    assert in_flags(plain) == plain


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "/records", "--out", "x.jsonl", "--rate-limit", "7.5"],
        ["sync", "/records", "--into", "x.sqlite", "--rate-limit", "7.5"],
    ],
)
def test_rate_limit_reaches_the_client_for_export_and_sync(argv: list[str]) -> None:
    from accutics_async.cli._commands import client_options as _client_options

    args = build_parser().parse_args(argv)
    assert _client_options(args)["rate_limit"] == 7.5
    assert "rate_limit" not in _client_options(build_parser().parse_args(argv[:4]))
