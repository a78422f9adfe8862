"""The exception tree, the status/code table, pickling and messages."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import pytest

import accutics_async
from accutics_async import errors
from accutics_async.errors import (
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
    error_class_for,
)

# child -> parent exactly as DESIGN.md ("Errors") and the errors docstring draw it.
TREE: dict[type[BaseException], type[BaseException]] = {
    AccuticsError: Exception,
    ConfigurationError: AccuticsError,
    SearchSyntaxError: AccuticsError,
    InvalidRequestError: AccuticsError,
    UnsafeURLError: AccuticsError,
    PaginationError: AccuticsError,
    TransportError: AccuticsError,
    DecodeError: AccuticsError,
    ExportError: AccuticsError,
    CheckpointExistsError: ExportError,
    SyncError: ExportError,
    APIError: AccuticsError,
    BadRequestError: APIError,
    InvalidRouteError: BadRequestError,
    AuthenticationError: APIError,
    PermissionDeniedError: APIError,
    NotFoundError: APIError,
    ConflictError: APIError,
    UnprocessableEntityError: APIError,
    RateLimitError: APIError,
    ServerError: APIError,
}

API_ERRORS = [cls for cls in TREE if issubclass(cls, APIError)]
OTHER_ERRORS = [
    cls
    for cls in TREE
    if not issubclass(cls, APIError) and cls not in (AccuticsError, CheckpointExistsError)
]


def test_every_exception_in_the_module_is_in_the_tree() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    }
    assert defined == set(TREE)


@pytest.mark.parametrize(("cls", "parent"), list(TREE.items()))
def test_tree(cls: type[BaseException], parent: type[BaseException]) -> None:
    assert parent in cls.__bases__
    # Ancestors within the tree are exactly the chain of drawn parents.
    chain = set()
    node: type[BaseException] = cls
    while node in TREE:
        node = TREE[node]
        chain.add(node)
    ours = {base for base in cls.__mro__[1:] if base in TREE}
    assert ours == chain - {Exception}


def drawn_tree(text: str) -> dict[str, str]:
    """child -> parent names from a box drawing ("├─ Name", "│   └─ Name", ...)."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = re.match(r"^(\s*)(?:([│ ]*)[├└]─ )?([A-Z][A-Za-z]+Error)\b", line)
        if not match:
            continue
        column = len(match.group(1)) + len(match.group(2) or "")
        name = match.group(3)
        while stack and stack[-1][0] >= column:
            stack.pop()
        if stack:
            found[name] = stack[-1][1]
        stack.append((column, name))
    return found


def expected_tree() -> dict[str, str]:
    return {c.__name__: p.__name__ for c, p in TREE.items() if p is not Exception}


def test_the_errors_module_draws_the_tree() -> None:
    assert errors.__doc__ is not None
    assert drawn_tree(errors.__doc__) == expected_tree()


def test_the_readme_draws_the_tree() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("AccuticsError\n")
    drawing = readme[start : readme.index("```", start)]
    assert drawn_tree(drawing) == expected_tree()


def test_value_error_mixins() -> None:
    assert issubclass(SearchSyntaxError, ValueError)
    assert issubclass(InvalidRequestError, ValueError)
    for cls in TREE:
        if cls not in (SearchSyntaxError, InvalidRequestError):
            assert not issubclass(cls, ValueError), cls


def test_siblings_are_not_related() -> None:
    assert not issubclass(TransportError, APIError)
    assert not issubclass(DecodeError, APIError)
    assert not issubclass(RateLimitError, ServerError)
    assert not issubclass(BadRequestError, InvalidRouteError)
    assert not issubclass(NotFoundError, BadRequestError)


def test_every_exception_is_exported_at_the_top_level() -> None:
    for cls in TREE:
        if cls is Exception:
            continue
        assert getattr(accutics_async, cls.__name__) is cls
        assert cls.__name__ in accutics_async.__all__


# -- error_class_for ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid_route", InvalidRouteError),
        (400, None, BadRequestError),
        (400, "validation_failed", BadRequestError),
        (400, "INVALID_ROUTE", BadRequestError),
        (401, "authorization_header_missing", AuthenticationError),
        (401, None, AuthenticationError),
        (401, "token_expired", AuthenticationError),
        (403, "authorization", PermissionDeniedError),
        (403, "something_else", PermissionDeniedError),
        (404, None, NotFoundError),
        (404, "invalid_route", NotFoundError),
        (429, None, RateLimitError),
        (429, "rate_limited", RateLimitError),
        (409, "record_locked", ConflictError),
        (409, None, ConflictError),
        (422, "taxonomy_violation", UnprocessableEntityError),
        (422, None, UnprocessableEntityError),
        (405, None, APIError),
        (418, None, APIError),
        (500, None, ServerError),
        (500, "invalid_route", ServerError),
        (502, None, ServerError),
        (503, "maintenance", ServerError),
        (504, None, ServerError),
        (599, None, ServerError),
        (302, None, APIError),
        (200, None, APIError),
    ],
)
def test_error_class_for(status: int, code: str | None, cls: type[APIError]) -> None:
    assert error_class_for(status, code) is cls


# -- pickling -----------------------------------------------------------------


def _api_kwargs(cls: type[APIError]) -> dict[str, Any]:
    return {
        "status": {RateLimitError: 429, ServerError: 503, NotFoundError: 404}.get(cls, 400),
        "code": "some_code",
        "data": {"field": "page_size", "nested": {"values": [1, 2.5, None, "x"]}},
        "endpoint": "records.index",
        "retry_after": 12.5,
    }


@pytest.mark.parametrize("cls", API_ERRORS)
def test_api_errors_pickle_with_every_field(cls: type[APIError]) -> None:
    exc = cls("Something failed.", **_api_kwargs(cls))
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(exc, protocol=protocol))
        assert type(clone) is cls
        assert clone.message == "Something failed."
        assert clone.args == exc.args
        for field, value in _api_kwargs(cls).items():
            assert getattr(clone, field) == value, field
        assert str(clone) == str(exc)
        assert repr(clone) == repr(exc)


@pytest.mark.parametrize("cls", API_ERRORS)
def test_api_errors_pickle_with_defaults(cls: type[APIError]) -> None:
    clone = pickle.loads(pickle.dumps(cls("m", status=500)))
    assert (clone.status, clone.code, clone.data, clone.endpoint, clone.retry_after) == (
        500,
        None,
        {},
        None,
        None,
    )


def test_decode_error_pickles_with_every_field() -> None:
    exc = DecodeError("not JSON", status=200, body_start="<html>", kind="not_envelope")
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is DecodeError
    assert (clone.status, clone.body_start, clone.kind) == (200, "<html>", "not_envelope")
    assert str(clone) == "not JSON"


def test_decode_error_defaults() -> None:
    exc = DecodeError("x")
    assert (exc.status, exc.body_start, exc.kind) == (None, "", "not_json")


@pytest.mark.parametrize("cls", OTHER_ERRORS)
def test_plain_errors_pickle(cls: type[AccuticsError]) -> None:
    exc = cls("went wrong")
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is cls
    assert clone.args == ("went wrong",)
    assert str(clone) == "went wrong"


def test_checkpoint_exists_error_pickles_with_its_path() -> None:
    exc = CheckpointExistsError("resume or discard", path="/tmp/out.jsonl.checkpoint.json")
    clone = pickle.loads(pickle.dumps(exc))
    assert isinstance(clone, ExportError)
    assert clone.path == "/tmp/out.jsonl.checkpoint.json"
    assert str(clone) == "resume or discard"


def test_pickled_errors_keep_extra_attributes() -> None:
    exc = TransportError("reset")
    exc.attempts = 3  # type: ignore[attr-defined]
    clone = pickle.loads(pickle.dumps(exc))
    assert clone.attempts == 3


def test_pickled_error_can_still_be_caught_by_parent() -> None:
    clone = pickle.loads(pickle.dumps(InvalidRouteError("no", status=400, code="invalid_route")))
    with pytest.raises(BadRequestError):
        raise clone


# -- messages -----------------------------------------------------------------


def test_api_error_str() -> None:
    exc = PermissionDeniedError(
        "No access.", status=403, code="authorization", endpoint="records.index"
    )
    assert str(exc) == "HTTP 403 authorization: No access. [records.index]"
    assert str(ServerError("Bad gateway page", status=502)) == "HTTP 502: Bad gateway page"


def test_api_error_repr() -> None:
    exc = NotFoundError("gone", status=404, code="not_found", endpoint="records.show")
    assert repr(exc) == (
        "NotFoundError(status=404, code='not_found', message='gone', endpoint='records.show')"
    )


def test_api_error_data_is_a_copy_and_always_a_dict() -> None:
    data = {"a": 1}
    exc = BadRequestError("m", status=400, data=data)
    data["a"] = 2
    assert exc.data == {"a": 1}
    assert BadRequestError("m", status=400, data=None).data == {}


def test_api_error_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        APIError("m", 400)  # type: ignore[misc]
