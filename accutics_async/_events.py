"""Event hooks: the frozen event values, their hook types, and a dispatch that never breaks a call.

A hook is a plain or async callable taking one event. Hooks are typed per
event name through :class:`EventHooks` (a ``TypedDict``), so ``mypy --strict``
checks that a ``"page"`` hook takes a :class:`PageEvent`. Every URL in an
event has the token redacted before the event is built.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar

import attrs

from .errors import ConfigurationError

__all__ = [
    "EventHooks",
    "Hook",
    "PageEvent",
    "PageHook",
    "PauseEvent",
    "PauseHook",
    "RequestEvent",
    "RequestHook",
    "ResponseEvent",
    "ResponseHook",
    "RetryEvent",
    "RetryHook",
    "check_hooks",
    "dispatch",
]

log = logging.getLogger("accutics_async")

E = TypeVar("E")


@attrs.frozen
class RequestEvent:
    """An attempt starts (``attempt`` counts from 1).

    It is sent once it has its concurrency slot and is let through by the
    429 gate and the rate limiter: waits that count in no duration.
    """

    method: str
    url: str
    attempt: int


@attrs.frozen
class ResponseEvent:
    """An attempt ended: ``status`` is ``None`` when no answer came (``error`` says why).

    ``elapsed_s`` is the request's own time, as ``http.client.request.duration``
    counts it: from when it was handed to the transport to when its answer
    was read (0 if it never went out).

    ``error`` is ``None`` for a success, else a short cause: the status code
    for an error answer (``"503"``), the ``TransportError`` kind or the
    exception class otherwise (``"CancelledError"`` for an attempt cut off
    by the call's deadline or cancelled by its caller).
    """

    method: str
    url: str
    attempt: int
    status: int | None
    elapsed_s: float
    error: str | None = None


@attrs.frozen
class RetryEvent:
    """Attempt ``attempt`` failed for ``cause`` and the next one starts in ``sleep_s`` seconds.

    ``cause`` is the name ``client.stats`` counts retries under
    (``"status_503"``, a ``TransportError`` kind, ...); ``elapsed_s`` is the
    time since the call started.
    """

    method: str
    url: str
    attempt: int
    cause: str
    status: int | None
    sleep_s: float
    elapsed_s: float


@attrs.frozen
class PageEvent:
    """A pager fetched page ``number`` (``items`` items) in ``elapsed_s`` seconds."""

    url: str
    number: int
    items: int
    elapsed_s: float


@attrs.frozen
class PauseEvent:
    """A request waits ``seconds`` because the API answered 429 with ``Retry-After``."""

    seconds: float


#: A hook: called with one event; may return an awaitable, which is awaited.
Hook = Callable[[E], Awaitable[None] | None]
RequestHook = Hook[RequestEvent]
ResponseHook = Hook[ResponseEvent]
RetryHook = Hook[RetryEvent]
PageHook = Hook[PageEvent]
PauseHook = Hook[PauseEvent]


class EventHooks(TypedDict, total=False):
    """``AccuticsClient(event_hooks=...)``: lists of hooks by event name."""

    request: Sequence[RequestHook]
    response: Sequence[ResponseHook]
    retry: Sequence[RetryHook]
    page: Sequence[PageHook]
    pause: Sequence[PauseHook]


EVENT_NAMES = ("request", "response", "retry", "page", "pause")


def check_hooks(hooks: Mapping[str, Any] | None) -> dict[str, tuple[Hook[Any], ...]]:
    """Validate ``event_hooks``; return a tuple of hooks for every event name.

    Raises ``ConfigurationError`` for an unknown name, a value that is not a
    list or tuple, or an entry that is not callable.
    """
    checked: dict[str, tuple[Hook[Any], ...]] = dict.fromkeys(EVENT_NAMES, ())
    if hooks is None:
        return checked
    if not isinstance(hooks, Mapping):
        raise ConfigurationError("event_hooks must be a dict of event name -> list of callables")
    for name, value in hooks.items():
        if name not in checked:
            raise ConfigurationError(
                f"unknown event hook name {name!r}; expected one of {', '.join(EVENT_NAMES)}"
            )
        if not isinstance(value, (list, tuple)):
            raise ConfigurationError(f"event_hooks[{name!r}] must be a list of callables")
        for hook in value:
            if not callable(hook):
                raise ConfigurationError(f"event_hooks[{name!r}] holds {hook!r}, not a callable")
        checked[name] = tuple(value)
    return checked


async def dispatch(name: str, hooks: tuple[Hook[E], ...], event: E) -> None:
    """Call each hook with ``event``, awaiting what it returns; log and swallow its errors.

    A broken hook (a dashboard's bug) must never fail the call it watches.
    Cancellation is not an error and propagates.
    """
    for hook in hooks:
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.warning("the %r event hook %r raised; ignored", name, hook, exc_info=True)
