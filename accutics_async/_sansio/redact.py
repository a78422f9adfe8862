"""One redactor for the bearer token, in every spelling a server can hand back.

Pure: no I/O. The client runs everything a server sends through it before
it is decoded, logged, raised or saved: the body (records, links, error
messages), the response headers (``Location`` included) and the URL that
answered. A server can echo the token literally, percent-encoded (``%65``,
any case of the hex digits, double-encoded ``%2565``), JSON-escaped
(``\\u0065``, any case; ``\\/``) or any mix, character by character. All of
these are replaced by ``[redacted]``.

Speed matters because every page body passes through here. The exact
pattern (one alternation per token character) scans at only ~20 MB/s, so it
runs only when a cheap test says the body may hold a spelling: the literal
token (``bytes in``), or an escape that spells a character of the token
(a literal-prefixed search that benign bodies rarely trip: percent-encoding
a letter or digit is unusual, ``%20`` and ``\\u00f8`` do not count).

Also here: :class:`SecretHeaders`, the request headers with the
``Authorization`` value hidden from ``repr`` (tracebacks that show locals,
such as pytest ``-l`` or rich's ``show_locals``, print reprs), and
:func:`drop_frames`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["REDACTED", "Redactor", "SecretHeaders", "drop_frames"]

REDACTED = "[redacted]"
# Shorter "tokens" (test stubs) are not real secrets, and replacing a few
# common characters would corrupt bodies.
MIN_SECRET = 8

_SHORT_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/"}


def _hex(value: int, width: int) -> str:
    """``value`` as hex digits matching either case (``6[aA]`` for 0x6a)."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}x}")


def _json_units(char: str) -> list[int]:
    data = char.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _spellings(char: str) -> str:
    """A regex for one character of the token in any spelling a server may use."""
    options = [re.escape(char), "".join(r"\\u" + _hex(unit, 4) for unit in _json_units(char))]
    if char in _SHORT_JSON_ESCAPES:
        options.append(re.escape(_SHORT_JSON_ESCAPES[char]))
    # %XX, %25XX (encoded twice) and \u0025XX (a JSON-escaped "%"), per UTF-8 byte.
    percent = r"(?:%|%25|\\u0025)"
    options.append("".join(percent + _hex(byte, 2) for byte in char.encode("utf-8")))
    if char == " ":
        options.append(r"\+")
    return "(?:" + "|".join(options) + ")"


def _any_of(values: set[int], width: int) -> str:
    """A regex for any of ``values`` as hex digits of either case, grouped by all but the last
    digit, so the engine tests a character class instead of trying alternatives one by one."""
    groups: dict[str, set[str]] = {}
    for value in values:
        digits = f"{value:0{width}x}"
        groups.setdefault(digits[:-1], set()).update({digits[-1], digits[-1].upper()})
    return (
        "(?:"
        + "|".join(
            _hex(int(head, 16), width - 1) + "[" + "".join(sorted(last)) + "]"
            for head, last in sorted(groups.items())
        )
        + ")"
    )


def _hints(secret: str) -> list[tuple[str, str]]:
    """``(character, regex)`` pre-tests that find any escape spelling a character of ``secret``.

    Every match of a regex holds its character (``\\``, ``%``, ``+``). Finding
    one character is a ``memchr``, much faster than the regex engine's scan
    (or ``in`` with a longer needle), and most bodies hold no ``\\`` or
    ``%`` at all, so the regex rarely runs; one combined alternation would be
    tried at every position.
    """
    units = {u for c in secret + "%" for u in _json_units(c)}
    octets = {b for c in secret + "%" for b in c.encode("utf-8")}
    hints = [("\\", r"\\u" + _any_of(units, 4)), ("%", "%" + _any_of(octets, 2))]
    for char in sorted(set(secret) & set(_SHORT_JSON_ESCAPES)):
        hints.append(("\\", re.escape(_SHORT_JSON_ESCAPES[char])))
    if " " in secret:
        hints.append(("+", r"\+"))
    return hints


class _Spellings:
    """Every spelling of one secret: the literal test, the pre-tests, the exact patterns.

    The exact patterns (one alternation per character, so a large regex) are
    compiled only when a pre-test first fires: compiling them costs about
    0.2 ms per token character, and most clients never see an escape.
    """

    __slots__ = ("_exact", "_secret", "hint_b", "hint_s", "literal_b")

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._exact: tuple[re.Pattern[str], re.Pattern[bytes]] | None = None
        self.literal_b = secret.encode("utf-8", "surrogatepass")
        hints = _hints(secret)
        self.hint_s = [(lead, re.compile(hint)) for lead, hint in hints]
        self.hint_b = [(lead.encode(), re.compile(hint.encode())) for lead, hint in hints]

    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
        if self._exact is None:
            pattern = "".join(map(_spellings, self._secret))
            # Every piece of the pattern is ASCII except a literal token character.
            self._exact = re.compile(pattern), re.compile(pattern.encode("utf-8", "surrogatepass"))
        return self._exact

    def text(self, value: str) -> str:
        if self._secret not in value:
            for lead, hint in self.hint_s:
                if lead in value and hint.search(value):
                    break
            else:
                return value
        return self._patterns()[0].sub(REDACTED, value)

    def bytes(self, value: bytes) -> bytes:
        if self.literal_b in value:
            value = value.replace(self.literal_b, REDACTED.encode())
        for lead, hint in self.hint_b:
            if lead in value and hint.search(value):
                return self._patterns()[1].sub(REDACTED.encode(), value)
        return value


# Clients (and their token sources) built with the same token share the work.
_spellings_of = functools.lru_cache(maxsize=32)(_Spellings)


class Redactor:
    """Replaces the tokens, however spelled, in text, bytes, headers and exceptions.

    ``secrets`` are every token the client has used (a token provider can
    hand out a new one after a 401); shorter than :data:`MIN_SECRET` ones
    are ignored.
    """

    __slots__ = ("_each",)

    def __init__(self, secrets: str | Sequence[str] | None) -> None:
        if isinstance(secrets, str):
            secrets = [secrets]
        self._each = tuple(_spellings_of(s) for s in secrets or () if len(s) >= MIN_SECRET)

    def __repr__(self) -> str:
        return "Redactor(<redacted>)"

    @property
    def active(self) -> bool:
        return bool(self._each)

    def text(self, value: str) -> str:
        """``value`` with every spelling of the tokens replaced by ``[redacted]``."""
        for one in self._each:
            value = one.text(value)
        return value

    def bytes(self, value: bytes) -> bytes:
        """As :meth:`text`, for a raw body (UTF-8 JSON)."""
        for one in self._each:
            value = one.bytes(value)
        return value

    def headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """``headers`` itself if no value holds the token, else a redacted copy."""
        if not self._each or not any(self.text(v) != v for v in headers.values()):
            return headers
        return CIMultiDictProxy(CIMultiDict((k, self.text(v)) for k, v in headers.items()))

    def exception(self, exc: BaseException) -> None:
        """Redact ``exc`` and every exception chained to it, in place.

        Covers the message (``args``), text attributes and notes of the
        exception, its ``__cause__`` and ``__context__`` (shown in tracebacks
        even under ``raise ... from None``) and the members of exception
        groups.
        """
        if not self._each:
            return
        pending: list[BaseException | None] = [exc]
        seen: set[int] = set()
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            current.args = tuple(self._value(a) for a in current.args)
            for name, value in list(getattr(current, "__dict__", {}).items()):
                if name == "__notes__" and isinstance(value, list):
                    value[:] = [self._value(note) for note in value]
                elif isinstance(value, str):
                    setattr(current, name, self.text(value))
            pending += [current.__cause__, current.__context__]
            pending += list(getattr(current, "exceptions", ()))

    def _value(self, value: Any) -> Any:
        return self.text(value) if isinstance(value, str) else value


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` hides the ``Authorization`` value.

    A plain dict holding ``Authorization: Bearer ...`` in a local variable of
    the send path would be printed by any traceback that shows locals
    (``traceback`` with ``capture_locals``, pytest ``-l``, rich's
    ``show_locals``: all of them use ``repr``, and rich honours a container's
    own ``__repr__``). A ``dict`` so that aiohttp takes it as headers as is.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in self.items()}
        return f"SecretHeaders({shown!r})"

    __str__ = __repr__

    def with_extra(self, extra: Mapping[str, str]) -> SecretHeaders:
        """These headers plus ``extra`` (which wins on a name clash)."""
        return SecretHeaders({**self, **extra}) if extra else self


def drop_frames(exc: BaseException) -> BaseException:
    """Clear the tracebacks of ``exc`` and everything chained to it; return ``exc``.

    For an aiohttp exception about to become a ``__cause__``: its frames are
    aiohttp's, whose locals hold the request headers (the token among them),
    and a traceback that shows locals would print them. The type and message
    stay.
    """
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]
    return exc
