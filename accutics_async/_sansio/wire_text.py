"""The text rules the search and sort languages share: names, and unsafe characters.

Both parameters travel in a URL and are split on ``:``, ``;`` and ``,``, so
the two languages (:mod:`.search`, :mod:`.sort`) agree on what a name may be
and which characters can never be sent. API_BASICS.md is silent on both;
the choices:

- Dimensions and sort fields are names: non-empty, without ``:``, ``;``,
  ``,``, whitespace or control characters.
- C0/C1 control characters and lone surrogates are refused everywhere,
  since they cannot travel in a URL intact.
"""

from __future__ import annotations

import re

from ..errors import SearchSyntaxError

__all__ = ["UNSAFE_CHARS", "check_name", "require_str"]

#: C0/C1 control characters and lone surrogates (a regex character-class body):
#: not URL-safe, never meaningful.
UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\ud800-\udfff"
_BAD_NAME_CHAR = re.compile(rf"[:;,\s{UNSAFE_CHARS}]")


def require_str(value: object, what: str) -> None:
    """Raise :class:`SearchSyntaxError` naming ``what`` unless ``value`` is a ``str``."""
    # Parameters are typed str, but callers may pass anything at runtime and
    # must get SearchSyntaxError, not an AttributeError or TypeError.
    if not isinstance(value, str):
        raise SearchSyntaxError(f"{what} must be a string, not {type(value).__name__}: {value!r}")


def check_name(name: str, what: str = "dimension") -> str:
    """Return ``name`` if it is a valid dimension or sort field.

    Raises :class:`SearchSyntaxError` naming ``what`` otherwise.
    """
    require_str(name, what)
    if not name:
        raise SearchSyntaxError(f"empty {what}")
    bad = _BAD_NAME_CHAR.search(name)
    if bad:
        raise SearchSyntaxError(
            f"{what} {name!r} contains {bad.group()!r}; "
            "names may not contain ':', ';', ',', whitespace or control characters"
        )
    return name
