"""OpenTelemetry, loaded once: the tracer, the instruments and the few span calls made.

OpenTelemetry, as it asks of libraries: only ``opentelemetry-api`` (the
``otel`` extra), and only if it is importable. Telemetry then goes to the
global tracer and meter providers, which do nothing until the application
configures an SDK; no call is needed. The import is tried once, here; without
the package :data:`TELEMETRY` is ``None`` and nothing below is called.

This is the only module that imports OpenTelemetry at run time; the
observer (:mod:`._observe`) reads :data:`TELEMETRY` at each use, so tests
can point it at their own SDK providers.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import APIError

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace

    HAVE_OTEL = True
except ImportError:  # pragma: no cover - tested in a subprocess without it
    HAVE_OTEL = False

__all__ = [
    "TELEMETRY",
    "Telemetry",
    "attach",
    "current_span",
    "detach",
    "error_type",
    "record_error",
]

log = logging.getLogger("accutics_async")

# OpenTelemetry's advice for http.client.request.duration (seconds).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_PAUSE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Telemetry:
    """The tracer and instruments of one tracer and meter provider (the global ones by default).

    Made once at import; tests build one on their own SDK providers and set
    ``_telemetry.TELEMETRY``, which leaves the process-wide providers alone.
    """

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = otel_trace.get_tracer("accutics_async", __version__, tracer_provider)
        meter = otel_metrics.get_meter("accutics_async", __version__, meter_provider)
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests, one per attempt.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "accutics.client.retries", unit="{retry}", description="Retries, by cause."
        )
        self.pauses = meter.create_histogram(
            "accutics.client.rate_limit.pause.duration",
            unit="s",
            description="Waits imposed by a 429 Retry-After on the client's shared gate.",
            explicit_bucket_boundaries_advisory=_PAUSE_BUCKETS,
        )
        self.pages = meter.create_counter(
            "accutics.client.pages", unit="{page}", description="Pages fetched by pagers."
        )
        self.items = meter.create_counter(
            "accutics.client.items", unit="{item}", description="Items in the pages fetched."
        )

    def client_span(self, name: str) -> Any:
        """Start (not make current) a ``CLIENT`` span named ``name``: one HTTP call."""
        return self.tracer.start_span(name, kind=otel_trace.SpanKind.CLIENT)


def _load() -> Telemetry | None:
    if not HAVE_OTEL:
        return None
    try:
        return Telemetry()
    except Exception:  # an opentelemetry-api too old for these calls: stay silent, work on
        log.debug("opentelemetry-api is importable but unusable; telemetry is off", exc_info=True)
        return None


#: Where telemetry goes; ``None`` when opentelemetry-api is not importable.
TELEMETRY: Telemetry | None = _load()


def attach(span: Any) -> Token[Context] | None:
    """Make ``span`` the current span; return the token for :func:`detach`.

    Returns ``None`` (and changes nothing) for no span or an invalid one.
    """
    if span is None or not span.get_span_context().is_valid:
        return None
    return otel_context.attach(otel_trace.set_span_in_context(span))


def detach(token: Token[Context] | None) -> None:
    """Undo the :func:`attach` that returned ``token`` (nothing for ``None``)."""
    if token is not None:
        otel_context.detach(token)


def current_span() -> Any:
    """The current span (a non-recording one when there is none)."""
    return otel_trace.get_current_span()


def error_type(exc: BaseException) -> str:
    """OpenTelemetry's ``error.type``: the status code, else the error kind, else the class."""
    if isinstance(exc, APIError) and exc.status is not None:
        return str(exc.status)
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) and kind else type(exc).__name__


def record_error(span: Any, exc: BaseException, redact: Callable[[str], str]) -> None:
    """Mark ``span`` failed with ``exc``, its message and stack trace passed through ``redact``."""
    # Not span.record_exception(exc) alone: its message and stack trace are
    # the exception's own text, and a chained aiohttp error can quote a URL
    # that a hostile server wrote the token into.
    message = redact(str(exc))
    stack = redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    span.set_attribute("error.type", error_type(exc))
    span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, message))
    span.record_exception(
        exc, attributes={"exception.message": message, "exception.stacktrace": stack}
    )
