"""Where an export writes: ``OUT`` checked, the working files beside it found, refused or removed.

Every name here is derived from ``OUT`` (never read from a plan or a
checkpoint), so a tampered file cannot steer a removal elsewhere.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import CheckpointExistsError, ExportError
from ._files import STDOUT, ExportPaths, check_destination, read_state, remove_quietly

__all__ = ["check_out", "discard_export", "read_checkpoint", "refuse_if_busy", "shard_files"]


def check_out(out: str | os.PathLike[str], *, resume: bool) -> ExportPaths:
    """The paths of an export into ``out``; ``ExportError`` for a destination that cannot work."""
    paths = ExportPaths.for_out(out)
    check_destination(paths.out)
    if paths.out == STDOUT and resume:
        raise ExportError(
            "standard output is streamed and not resumable: export to a file to resume",
            path=STDOUT,
        )
    return paths


def refuse_if_busy(paths: ExportPaths, *, sharded: bool) -> None:
    """Raise ``CheckpointExistsError`` if the other kind of export into ``out`` is unfinished."""
    other = paths.checkpoint if sharded else paths.plan
    if os.path.lexists(other):
        kind = "an unsharded" if sharded else "a sharded"
        raise CheckpointExistsError(
            f"{kind} export into {paths.out} was interrupted ({other} exists); resume it "
            "the same way, or discard_export() it first",
            path=other,
        )


def read_checkpoint(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checkpoint of an interrupted export into ``out`` as a dict, or ``None``.

    Its ``"pager"`` entry is the pager checkpoint to resume from. Raises
    :class:`ExportError` if the file is not a valid checkpoint.
    """
    state = read_state(ExportPaths.for_out(out))
    return None if state is None else state.to_json()


def discard_export(out: str | os.PathLike[str]) -> None:
    """Remove an interrupted export's partial file, checkpoint and shard files, if any.

    Only the working names derived from ``out`` are touched (never a path
    read from a plan or checkpoint), and only regular files of the user's:
    anything else at one of them is an ``ExportError`` naming it.
    """
    paths = ExportPaths.for_out(out)
    remove_quietly(*shard_files(paths))
    remove_quietly(
        paths.part,
        paths.checkpoint,
        paths.checkpoint + ".tmp",
        paths.rewrite,
        paths.plan,
        paths.plan + ".tmp",
    )


def shard_files(paths: ExportPaths) -> list[str]:
    """The shard files (and their working files) of ``paths.out`` present in its directory."""
    folder, name = os.path.split(paths.out)
    pattern = re.compile(
        re.escape(name) + r"\.shard-[0-9]{3,}-of-[0-9]{3,}"
        r"(?:\.part|\.part\.rewrite|\.checkpoint\.json|\.checkpoint\.json\.tmp)?"
    )
    try:
        names = os.listdir(folder or ".")
    except FileNotFoundError:
        return []
    return sorted(os.path.join(folder, n) for n in names if pattern.fullmatch(n))
