"""``FakeClock``: the time the fake server stamps its writes with, under a test's control.

Without one the server stamps each write one second after the previous one
(a logical clock), which keeps every existing test deterministic. With a
``FakeClock`` the test decides: leave it still and many writes share one
second (ties at a sync's watermark), move it back and a write commits
"late" (stamped earlier than records already served).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ._query import normalise_timestamp, timestamp_epoch

__all__ = ["FakeClock", "to_epoch"]


def to_epoch(when: int | str | datetime) -> int:
    """Return ``when`` (UTC seconds, ISO 8601 Zulu text or an aware datetime) as UTC seconds.

    Raises ``ValueError`` for text that is not ISO 8601 Zulu or a naive datetime.
    """
    if isinstance(when, bool):
        raise ValueError(f"not a time: {when!r}")
    if isinstance(when, int):
        return when
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime has no time zone; pass an aware one")
        return int(when.timestamp())
    normal = normalise_timestamp(when) if isinstance(when, str) else None
    if normal is None:
        raise ValueError(f"not an ISO 8601 Zulu timestamp: {when!r}")
    return timestamp_epoch(normal)


class FakeClock:
    """A settable clock in whole UTC seconds: ``clock()`` reads it.

    ``now=None`` lets the server start it just after its newest generated
    timestamp, so stamps sort after every generated record. ``step`` is
    added after each read (0: writes share the second until the test moves
    the clock on).
    """

    def __init__(self, now: int | str | datetime | None = None, *, step: int = 0) -> None:
        self.now: int | None = None if now is None else to_epoch(now)
        self.step = step

    def __repr__(self) -> str:
        when = "unset" if self.now is None else self.iso()
        return f"<FakeClock {when} step={self.step}>"

    def __call__(self) -> int:
        if self.now is None:
            raise RuntimeError("the clock is not set; pass now= or give it to a FakeAccuticsServer")
        now = self.now
        self.now += self.step
        return now

    def set(self, when: int | str | datetime) -> None:
        """Set the time (backwards too: the next writes then commit "late")."""
        self.now = to_epoch(when)

    def advance(self, seconds: int = 1) -> int:
        """Move the clock on by ``seconds`` and return the new time."""
        if self.now is None:
            raise RuntimeError("the clock is not set")
        self.now += seconds
        return self.now

    def iso(self) -> str:
        """The current time as ISO 8601 Zulu text."""
        if self.now is None:
            raise RuntimeError("the clock is not set")
        return datetime.fromtimestamp(self.now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
