"""Coverage-guided fuzzing with atheris: run by hand, not collected by pytest.

::

    pip install atheris
    python tests/reliability/fuzz_atheris.py envelope -max_total_time=60 /tmp/corpus-envelope
    python tests/reliability/fuzz_atheris.py search -max_total_time=60 /tmp/corpus-search
    python tests/reliability/fuzz_atheris.py link -max_total_time=60 /tmp/corpus-link

The first argument names the target; the rest go to libFuzzer (a time
limit, then corpus directories: the first one receives new inputs; seed it
with ``tests/samples/fuzz/<target>/``). A crash is any exception that is not
an ``AccuticsError``, a decoded body orjson reads differently, a search that
does not round-trip, or a link that resolves off the base origin as aiohttp
(yarl) would read it. libFuzzer saves the input as ``crash-<sha1>``: fix the
bug, then keep the input in ``tests/samples/fuzz/<target>/``, which
``test_fuzz.py`` replays on every run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["accutics_async", "yarl"]):
    import orjson
    import yarl

    from accutics_async import AccuticsError, Search, SearchSyntaxError
    from accutics_async._sansio.envelope import decode_response
    from accutics_async._sansio.protocol import build_url, resolve_link

BASE = "https://api.example.com/v1"
CURRENT = f"{BASE}/records?page=1&page_size=100"
ORIGIN = ("https", "api.example.com", 443)


def envelope(data: bytes) -> None:
    for status in (200, 500):
        try:
            resp = decode_response(status, {}, data, url=BASE)
        except AccuticsError:
            continue
        if resp.data != orjson.loads(data)["data"]:
            raise AssertionError("the decoder read the data differently from orjson")


def search(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        parsed = Search.parse(text)
    except SearchSyntaxError:
        return
    if Search.parse(str(parsed)) != parsed:
        raise AssertionError(f"{text!r} does not round-trip")


def link(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for resolve in (lambda: resolve_link(CURRENT, text, BASE), lambda: build_url(BASE, text)):
        try:
            url = resolve()
        except AccuticsError:
            continue
        try:
            parsed = yarl.URL(url)
        except ValueError:
            continue  # aiohttp refuses it as well: nothing is sent
        if (parsed.scheme, parsed.host, parsed.port) != ORIGIN or parsed.user is not None:
            raise AssertionError(f"{text!r} resolved off the base origin: {url!r}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "search": search,
    "link": link,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [corpus]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
