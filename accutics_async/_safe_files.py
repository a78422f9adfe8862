"""Files an export (or a sync) creates, reads back, replaces and removes, safely.

Exports often write into shared directories, where another local user (or
a stale file) may already sit at one of the working names (``OUT.part``,
``OUT.checkpoint.json`` and its ``.tmp``, ``OUT.shards.json``, shard files).
The rules, which every function here keeps:

- **Created, never adopted.** A new file is created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW``: a symlink or file planted at the name
  makes it fail (:class:`ExportError` naming the file) instead of writing
  through it. Working files are created ``0600``; a file the user receives
  (the destination, a finished shard) gets the mode the user's umask gives
  (:func:`publish`) just before it is renamed into place.
- **Trusted only if ours.** A file read back (a checkpoint, a shard plan) or
  reopened to resume (a partial file) must be a regular file, not a
  symlink, owned by the current user and not writable by group or others;
  anything else is refused, never read. A file that the user merely owns is
  enough to be read as data (a finished shard) or removed.
- **Never follows, never blocks.** Opens use ``O_NOFOLLOW`` and
  ``O_NONBLOCK`` (a FIFO planted at a name cannot hang the export), and
  the type is checked on the open descriptor, so a file swapped between a
  check and the open is still caught.

On Windows the ownership and mode checks are skipped (no POSIX owners).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable

from .errors import ExportError

__all__ = [
    "create_exclusive",
    "fsync_dir",
    "open_trusted",
    "publish",
    "read_trusted",
    "remove",
    "replace_small",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_POSIX = sys.platform != "win32"
#: Small state files (checkpoints, plans) larger than this are refused unread.
MAX_STATE_BYTES = 16 * 1024 * 1024

#: The current user, as the kernel checks ownership. A seam for tests, which
#: cannot create a file owned by another user without root.
current_uid: Callable[[], int] = getattr(os, "geteuid", lambda: 0)


def _refuse(path: str, why: str) -> ExportError:
    return ExportError(
        f"refusing {path}: {why}; this export did not create it. Check what it is and "
        "remove it yourself, or choose another output file"
    )


def _check(path: str, st: os.stat_result, *, private: bool) -> None:
    """Raise unless ``st`` is a regular file of ours (and, if ``private``, only ours to write)."""
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "it is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, "it is not a regular file")
    if not _POSIX:  # pragma: no cover - no POSIX owners on Windows
        return
    if st.st_uid != current_uid():
        raise _refuse(path, f"it is owned by another user (uid {st.st_uid})")
    if private and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _refuse(path, f"it is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})")


def _open(path: str, flags: int) -> int | None:
    """``os.open`` without following a symlink; ``None`` if ``path`` does not exist."""
    try:
        return os.open(path, flags | _FLAGS | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):  # ELOOP (Linux) or EMLINK (FreeBSD) for O_NOFOLLOW
            raise _refuse(path, "it is a symbolic link") from None
        raise ExportError(f"cannot open {path}: {exc.strerror or exc}") from exc


def open_trusted(path: str, *, write: bool, private: bool = True) -> int | None:
    """Open an existing file of ours; ``None`` if there is none, ``ExportError`` if not ours.

    ``private`` (the default) also refuses a file writable by group or
    others: its content would not be the user's alone.
    """
    fd = _open(path, os.O_RDWR if write else os.O_RDONLY)
    if fd is None:
        return None
    try:
        _check(path, os.fstat(fd), private=private)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_exclusive(path: str) -> int:
    """Create ``path`` (mode ``0600``) for writing; ``ExportError`` if anything is there."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _FLAGS, 0o600)
    except FileExistsError:
        raise _refuse(path, "a file (or link) of that name already exists") from None


def recreate(path: str) -> int:
    """Remove our own leftover at ``path`` (see :func:`remove`), then :func:`create_exclusive`."""
    remove(path)
    return create_exclusive(path)


def read_trusted(path: str, *, limit: int = MAX_STATE_BYTES) -> bytes | None:
    """The bytes of a small state file of ours, or ``None`` if there is none."""
    fd = open_trusted(path, write=False)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ExportError(f"{path} is over {limit} bytes; it is not a file this library wrote")
    return data


def remove(*paths: str) -> None:
    """Remove each of ``paths`` that exists, if it is a regular file the user owns.

    A symlink, a directory or another user's file at a working name is
    refused (``ExportError`` naming it), never removed: an export only
    deletes what an export of this user created.
    """
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        _check(path, st, private=False)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _umask() -> int:
    # Linux reports it without changing it; elsewhere set a strict mask for the
    # instant it takes to read the old one (a file another thread creates
    # meanwhile is then created too private, never too open).
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def publish(fd: int) -> None:
    """Give an open working file the mode a plain ``open(path, "w")`` would have had."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o666 & ~_umask())


def fsync_dir(path: str) -> None:
    """Make a rename in ``path``'s directory durable, where the platform allows it."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def replace_small(path: str, data: bytes, *, fsync: bool) -> None:
    """Replace ``path`` with ``data`` atomically, through ``path + ".tmp"``.

    The temporary file is created exclusively (a leftover of ours from a
    crash is removed first, anything else refused), and ``os.replace``
    renames over the name itself: a symlink at ``path`` is replaced, never
    followed.
    """
    tmp = path + ".tmp"
    fd = recreate(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError, ExportError):
            remove(tmp)
        raise
