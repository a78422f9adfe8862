"""accutics_async: an async-first client for the Accutics Open API.

::

    from accutics_async import AccuticsClient, F

    async with AccuticsClient(token=..., base_url=...) as client:
        resp = await client.get("/records/42")
        async for record in client.paginate("/records", search=F("input_medium").eq("email")):
            ...
"""

from ._client import AccuticsClient
from ._events import (
    EventHooks,
    Hook,
    PageEvent,
    PageHook,
    PauseEvent,
    PauseHook,
    RequestEvent,
    RequestHook,
    ResponseEvent,
    ResponseHook,
    RetryEvent,
    RetryHook,
)
from ._pagination import AsyncPager
from ._retry import RetryPolicy, disable_retries
from ._sansio.models import (
    JSON,
    CursorPagination,
    Meta,
    Page,
    PageNumberPagination,
    Record,
    Response,
)
from ._sansio.search import F, Filter, Search
from ._sansio.sort import SortKey, format_sort, parse_sort
from ._sansio.structuring import register_structure_hook
from ._sansio.timeout import Timeout
from ._version import __version__
from .errors import (
    AccuticsError,
    APIError,
    AuthenticationError,
    BadRequestError,
    CheckpointExistsError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    ExportError,
    InvalidRequestError,
    InvalidRouteError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    SearchSyntaxError,
    ServerError,
    SyncError,
    TransportError,
    UnprocessableEntityError,
    UnsafeURLError,
)

__all__ = [
    "JSON",
    "APIError",
    "AccuticsClient",
    "AccuticsError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointExistsError",
    "ConfigurationError",
    "ConflictError",
    "CursorPagination",
    "DecodeError",
    "EventHooks",
    "ExportError",
    "F",
    "Filter",
    "Hook",
    "InvalidRequestError",
    "InvalidRouteError",
    "Meta",
    "NotFoundError",
    "Page",
    "PageEvent",
    "PageHook",
    "PageNumberPagination",
    "PaginationError",
    "PauseEvent",
    "PauseHook",
    "PermissionDeniedError",
    "RateLimitError",
    "Record",
    "RequestEvent",
    "RequestHook",
    "Response",
    "ResponseEvent",
    "ResponseHook",
    "RetryEvent",
    "RetryHook",
    "RetryPolicy",
    "Search",
    "SearchSyntaxError",
    "ServerError",
    "SortKey",
    "SyncError",
    "Timeout",
    "TransportError",
    "UnprocessableEntityError",
    "UnsafeURLError",
    "__version__",
    "disable_retries",
    "format_sort",
    "parse_sort",
    "register_structure_hook",
]
