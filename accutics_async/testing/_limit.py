"""The fake server's rate limit (the ``limit=`` fault): an API gateway's token bucket.

``limit=RATE/UNIT[:int][:burst=N]``: at most ``RATE`` requests per second
(``/s``) or per minute (``/min``), with a bucket of ``N`` tokens (default:
a tenth of a second's worth, at least 1). A request that finds the bucket
empty is answered 429 at once, with ``Retry-After`` set to the time until
the next token: in fractional seconds rounded up to the millisecond, or
with ``:int`` in whole seconds rounded up, as HTTP's delta-seconds are.
Rejected requests take no token, as a gateway's do.

Kept apart from the client's own limiter on purpose: the fake is the oracle
the client's adaptation is measured against, so it shares none of its code.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from decimal import Decimal

import attrs

__all__ = ["GatewayBucket", "LimitSpec", "plain_number"]

_SYNTAX = re.compile(r"(\d+(?:\.\d*)?|\.\d+)/(s|min)((?::[a-z]+(?:=\d+)?)*)")
_PER_UNIT = {"s": 1.0, "min": 60.0}


def plain_number(value: float) -> str:
    """``value`` in plain decimal notation that reads back as the same float.

    The fault syntax (and ``Retry-After``) has no exponents: ``:g`` gave
    ``2e+06`` and ``1e-05``, which do not parse, and rounded ``1/60`` to six
    digits, which parses as another rate.
    """
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _default_burst(rate: float) -> int:
    return max(1, math.ceil(rate / 10.0))


@attrs.frozen
class LimitSpec:
    """``rate`` requests per second, a bucket of ``burst`` tokens, and the form of Retry-After.

    Raises ``ValueError`` for a rate or burst that is not positive.
    """

    rate: float
    burst: int = attrs.field()
    whole_seconds: bool = False

    @burst.default
    def _burst(self) -> int:
        return _default_burst(self.rate)

    def __attrs_post_init__(self) -> None:
        if not 0 < self.rate < math.inf:
            raise ValueError(f"limit rate must be > 0, got {self.rate!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"limit burst must be an int >= 1, got {self.burst!r}")

    @classmethod
    def parse(cls, text: str) -> LimitSpec:
        """Read ``50/s``, ``3000/min``, ``50/s:int``, ``50/s:burst=1``; raise ``ValueError``."""
        match = _SYNTAX.fullmatch(text.strip().lower())
        if match is None:
            raise ValueError(f"limit {text!r} is not like 50/s, 50/s:int or 3000/min:burst=5")
        rate = float(match.group(1)) / _PER_UNIT[match.group(2)]
        burst, whole = None, False
        for option in filter(None, match.group(3).split(":")):
            name, _, value = option.partition("=")
            if name == "int" and not value:
                whole = True
            elif name == "burst" and value:
                burst = int(value)
            else:
                raise ValueError(f"unknown limit option {option!r} in {text!r}: use int, burst=N")
        if burst is None:
            return cls(rate, whole_seconds=whole)
        return cls(rate, burst, whole)

    def __str__(self) -> str:
        parts = [f"{plain_number(self.rate)}/s"]
        if self.whole_seconds:
            parts.append("int")
        if self.burst != _default_burst(self.rate):
            parts.append(f"burst={self.burst}")
        return ":".join(parts)


class GatewayBucket:
    """Admits requests at ``spec.rate``; ``clock`` is injectable for tests."""

    def __init__(self, spec: LimitSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._tokens = float(spec.burst)
        self._at = clock()

    def admit(self) -> float | None:
        """Take a token and return ``None``, or return the seconds until the next one."""
        now = self._clock()
        spec = self.spec
        self._tokens = min(float(spec.burst), self._tokens + (now - self._at) * spec.rate)
        self._at = now
        if self._tokens >= 1.0 - 1e-9:  # float rounding of an exact slot
            self._tokens = max(0.0, self._tokens - 1.0)
            return None
        return (1.0 - self._tokens) / spec.rate

    def retry_after(self, seconds: float) -> str:
        """The ``Retry-After`` text for a wait of ``seconds``: never earlier than the slot."""
        if self.spec.whole_seconds:
            return str(max(1, math.ceil(seconds)))
        return f"{max(0.001, math.ceil(seconds * 1000.0) / 1000.0):.3f}"
