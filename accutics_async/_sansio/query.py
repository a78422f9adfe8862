"""``Query``: one listing request as a frozen value, built and validated once.

What a walk covers (path, extra parameters, search, sort, page size) and how
far it may go (``max_items``, ``max_pages``). The client's ``paginate``, the
pager, export, sharded export and sync all take this one value instead of
each repeating (and re-checking) the same seven arguments. No I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import attrs

from ..errors import ConfigurationError
from .protocol import Params, PathLike, build_url, encode_params
from .search import Filter, Search, to_wire
from .sort import format_sort

__all__ = ["Query", "check_count", "fingerprint", "path_query_names", "with_params"]

# The query parameters a walk sets itself, by the argument that sets them.
# API_BASICS.md names them: "search", "sort", "page_size" (size_param),
# "page" (page_param) and "cursor" (cursor_param); a checkpoint sets the
# page or cursor to resume from.
_OWNED = {
    "search": ("search",),
    "sort": ("sort",),
    "page_size": ("page_size",),
    "resume": ("page", "cursor"),
}


def check_count(name: str, value: int | None, minimum: int) -> None:
    """``ConfigurationError`` unless ``value`` is ``None`` or an int (not a bool) >= ``minimum``."""
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < minimum
    ):
        raise ConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}")


def path_query_names(path: PathLike) -> set[str]:
    """The parameter names a path's own query sets (``"records?sort=id"``: ``{"sort"}``)."""
    if not isinstance(path, str) or "?" not in path:
        return set()
    query = path.split("?", 1)[1].split("#", 1)[0]
    return {name for name, _ in parse_qsl(query, keep_blank_values=True)}


def with_params(url: str, pairs: Sequence[tuple[str, str]]) -> str:
    """``url`` with ``pairs`` added to its query, as aiohttp adds ``params=`` to a URL.

    A path may carry a query of its own (``"records?input_medium=email"``)
    and a fragment, which is never sent: the parameters go before it.
    """
    if not pairs:
        return url
    base, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return f"{base}{joiner}{urlencode(pairs, quote_via=quote)}{hash_}{fragment}"


def fingerprint(
    url: str, *, search: str | None, sort: str | None, page_size: int | None, params: Any
) -> str:
    """A short stable digest of a query, stored in checkpoints to refuse a mismatch.

    Its input is frozen: checkpoints written by every earlier release carry
    it, and a resume compares it byte for byte.
    """
    canonical = repr((url, search, sort, page_size, sorted(params)))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@attrs.frozen
class Query:
    """One listing request: which records, in which order, and how many at most.

    Build it with :meth:`of`, which normalises ``search`` and ``sort`` to
    their wire form and ``params`` to ``(name, text)`` pairs, and raises
    ``SearchSyntaxError``/``ConfigurationError``/``InvalidRequestError``
    for what could never be sent.
    """

    path: str | tuple[str, ...]
    params: tuple[tuple[str, str], ...] = ()
    search: str | None = None
    sort: str | None = None
    page_size: int | None = None
    max_items: int | None = None
    max_pages: int | None = None

    @classmethod
    def of(
        cls,
        path: PathLike,
        *,
        params: Params | None = None,
        search: Search | Filter | str | None = None,
        sort: str | Sequence[str] | None = None,
        page_size: int | None = None,
        max_items: int | None = None,
        max_pages: int | None = None,
    ) -> Query:
        check_count("page_size", page_size, 1)
        check_count("max_items", max_items, 0)
        check_count("max_pages", max_pages, 1)
        query = cls(
            path=path if isinstance(path, str) else tuple(path),
            params=tuple(encode_params(params)),
            search=to_wire(search),
            sort=format_sort(sort),
            page_size=page_size,
            max_items=max_items,
            max_pages=max_pages,
        )
        query.refuse_in_params("search", query.search)
        query.refuse_in_params("sort", query.sort)
        query.refuse_in_params("page_size", query.page_size)
        return query

    def refuse_in_params(self, argument: str, value: object) -> None:
        """``ConfigurationError`` if ``argument`` is set and ``params`` (or the path's own
        query) also sets what it owns."""
        if value is None:
            return
        names = {name for name, _ in self.params}
        in_path = path_query_names(self.path)
        for name in _OWNED[argument]:
            if name in names or name in in_path:
                given = f"params={{{name!r}: ...}}" if name in names else "the path's query"
                raise ConfigurationError(
                    f"{given} and {argument}= both set the {name!r} parameter; pass it one way only"
                )

    def base(self, base_url: str) -> str:
        """The listing's absolute URL under ``base_url``, with only the path's own query."""
        return build_url(base_url, self.path)

    def first_url(self, base_url: str) -> str:
        """The URL of the walk's first page: the listing with every parameter set."""
        base = self.base(base_url)
        pairs = list(self.params)
        if self.search is not None:
            pairs.append(("search", self.search))
        if self.sort is not None:
            pairs.append(("sort", self.sort))
        if self.page_size is not None:
            pairs.append(("page_size", str(self.page_size)))
        return with_params(base, pairs)

    def fingerprint(self, base_url: str) -> str:
        """The digest a checkpoint of this query carries (limits not included)."""
        return fingerprint(
            self.base(base_url),
            search=self.search,
            sort=self.sort,
            page_size=self.page_size,
            params=self.params,
        )

    def recorded(self) -> dict[str, Any]:
        """What an export saves of its query (JSON), so a resume of another one is refused."""
        return {
            "path": self.path if isinstance(self.path, str) else list(self.path),
            "search": self.search,
            "sort": self.sort,
            "page_size": self.page_size,
            "params": [list(pair) for pair in self.params],
        }
