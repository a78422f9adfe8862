"""``Timeout``: how long one request attempt may take, phase by phase.

A single total is the wrong bound for a big page on a slow but moving link:
the download is healthy as long as bytes keep arriving. So besides the
total, a ``Timeout`` can bound connecting and the wait for the next bytes.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import ConfigurationError

__all__ = ["Timeout", "as_timeout"]


def _seconds(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"Timeout.{attribute.name} must be a number of seconds > 0 or None, got {value!r}"
        )


@attrs.frozen
class Timeout:
    """Bounds on one request attempt, in seconds; ``None`` leaves a phase unbounded.

    - ``total``: the whole attempt, from sending to the last byte of the body.
    - ``connect``: getting a connection (from the pool, or a new one: TCP, TLS,
      proxy).
    - ``sock_read``: the longest wait for the next bytes of the answer, so a
      slow but steady download goes on while a stalled one fails.

    ``Timeout(total=None, sock_read=30)`` suits big exports over a slow link.
    A plain number given as a timeout means ``Timeout(total=number)``.
    Running out raises ``TransportError`` with ``kind`` ``"timeout"``,
    ``"connect_timeout"`` or ``"read_timeout"``.
    """

    total: float | None = attrs.field(default=30.0, validator=_seconds)
    connect: float | None = attrs.field(default=None, validator=_seconds)
    sock_read: float | None = attrs.field(default=None, validator=_seconds)


def as_timeout(value: float | Timeout, name: str = "timeout") -> Timeout:
    """``value`` as a :class:`Timeout` (a number is the total); ``ConfigurationError`` if bad."""
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"{name} must be a number of seconds > 0 or a Timeout, got {value!r}"
        )
    return Timeout(total=float(value))
