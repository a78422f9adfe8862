"""What the ``accutics`` command reads from and writes to a user's terminal, made safe.

- :func:`read_token_file`: ``--token-file`` is read only if it is a regular
  file (or ``-``, the first line of standard input), never through a
  symlink, never more than :data:`MAX_TOKEN_BYTES`, and without blocking on
  a FIFO or device. A file that group or others can read still works, with
  a warning: secret mounts (Docker, Kubernetes) are often 0444/0644, and
  refusing them would only push the token into the environment.
- :func:`terminal_text` and :func:`terminal_json`: a server's text (an error
  message, a record) reaches the terminal with its control and escape
  characters shown as escapes, not obeyed, so a server cannot retitle the
  window, erase a line and forge "done", or write to the clipboard (OSC 52).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable
from typing import BinaryIO

from ._exits import UsageError

__all__ = ["read_token_file", "terminal_json", "terminal_text"]

#: A JWT is a few kilobytes; anything much larger is not a token file.
MAX_TOKEN_BYTES = 64 * 1024

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO without a writer must not hang the open
    | getattr(os, "O_CLOEXEC", 0)
)


def read_token_file(
    name: str, *, stdin: BinaryIO | None = None, warn: Callable[[str], None]
) -> str:
    """The token in file ``name`` (``-``: the first line of ``stdin``), stripped."""
    if name == "-":
        source = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if source is None:  # started with standard input closed
            raise UsageError("--token-file -: there is no standard input to read")
        data = source.readline(MAX_TOKEN_BYTES + 1)
    else:
        data = _read_regular(name, warn)
    if len(data) > MAX_TOKEN_BYTES:
        raise UsageError(f"the token file {name} is over {MAX_TOKEN_BYTES} bytes: not a token")
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError(f"the token file {name} is not UTF-8 text") from None
    if not token:
        raise UsageError(f"the token file {name} is empty")
    return token


def _read_regular(name: str, warn: Callable[[str], None]) -> bytes:
    if os.path.islink(name):
        # Followed, a link planted in a shared directory would send whatever
        # file it names to the server as the token.
        raise UsageError(
            f"the token file {name} is a symbolic link; name the file itself "
            "(or use --token-file - < FILE)"
        )
    try:
        fd = os.open(name, _FLAGS)
    except OSError as exc:
        raise UsageError(f"cannot read the token file {name}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)  # the file opened, not whatever the name points to by now
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"the token file {name} is not a regular file")
        if st.st_mode & (stat.S_IRGRP | stat.S_IROTH) and os.name != "nt":
            warn(
                f"warning: the token file {name} is readable by other users "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 {name}"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_TOKEN_BYTES + 1)


# C0 and C1 controls, DEL, and the invisible direction overrides and marks
# that can make text read differently from what it is.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same characters as orjson writes them (raw UTF-8; it escapes only C0).
_JSON_RAW = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    """``text`` with every control, escape and direction character shown as ``\\xNN``."""
    return _CONTROL.sub(_shown, text)


def terminal_json(data: bytes) -> bytes:
    """orjson output with DEL, C1 and direction characters as ``\\uNNNN`` escapes.

    The same JSON value (only characters inside strings change spelling);
    orjson already escapes C0 controls, ESC among them.
    """
    return _JSON_RAW.sub(lambda m: b"\\u%04x" % ord(m.group().decode("utf-8")), data)
