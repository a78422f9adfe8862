"""Reading saved sync state: every field's check, and the exact error for each kind of misfit."""

from __future__ import annotations

from typing import Any

import pytest

from accutics_async import SyncError
from accutics_async.sync._state import SyncState

GOOD = SyncState(
    path="/records",
    search="input_medium:eq:email",
    key="updated_at",
    watermark="2020-01-01T00:00:00Z",
    restart=5,
    walking=True,
    walking_full=False,
    runs=2,
    offset=10,
    horizon=3,
    window={"a": ["0123456789abcdef", 4]},
).to_json()
MALFORMED = "where: the sync state is malformed; remove it to start over"

BAD_FIELDS = [
    ("path", [None, 1, ["/records"]]),
    ("key", [None, 5]),
    ("search", [1, ["a"]]),
    ("watermark", [3, {}]),
    ("restart", ["5", True, 1.5]),
    ("horizon", ["1", False]),
    ("runs", [None, True, "1", 1.0]),
    ("offset", [None, False, "10"]),
    ("walking", [None, 1, "true"]),
    ("walking_full", [None, 0]),
    (
        "window",
        [
            None,
            [],
            {"a": "x"},
            {"a": ["h"]},
            {"a": ["h", 1, 2]},
            {"a": [1, 1]},
            {"a": ["h", "1"]},
            {"a": ["h", True]},
            {"a": ("h", 1)},
        ],
    ),
]


def test_a_full_state_round_trips() -> None:
    assert SyncState.from_json(GOOD, "where").to_json() == GOOD


def test_missing_optional_fields_take_their_defaults_and_unknown_keys_are_ignored() -> None:
    minimal = {
        "kind": "accutics_async.sync",
        "version": 1,
        "path": "/r",
        "search": None,
        "key": "k",
    }
    assert SyncState.from_json({**minimal, "later": 1}, "where") == SyncState(
        path="/r", search=None, key="k"
    )
    nulls = {"search": None, "watermark": None, "restart": None, "horizon": None}
    assert SyncState.from_json({**minimal, **nulls}, "where") == SyncState(
        path="/r", search=None, key="k"
    )


@pytest.mark.parametrize("data", [None, [], "state", {}, {**GOOD, "kind": "other"}])
def test_what_is_not_sync_state_is_refused_by_name(data: Any) -> None:
    with pytest.raises(SyncError) as caught:
        SyncState.from_json(data, "where")
    assert str(caught.value) == "where does not hold accutics sync state"
    assert caught.value.path == "where"


@pytest.mark.parametrize(("version", "shown"), [(9, "9"), (None, "None"), ("1", "'1'")])
def test_another_version_is_refused_by_name(version: Any, shown: str) -> None:
    data = {**GOOD, "version": version}
    if version is None:
        del data["version"]
    with pytest.raises(SyncError) as caught:
        SyncState.from_json(data, "where")
    assert str(caught.value) == f"where: unsupported sync state version {shown}"
    assert caught.value.path == "where"


@pytest.mark.parametrize(
    ("field", "value"), [(field, value) for field, values in BAD_FIELDS for value in values]
)
def test_a_field_of_the_wrong_type_is_malformed(field: str, value: Any) -> None:
    with pytest.raises(SyncError) as caught:
        SyncState.from_json({**GOOD, field: value}, "where")
    assert str(caught.value) == MALFORMED


@pytest.mark.parametrize("field", ["path", "search", "key"])
def test_a_missing_required_field_is_malformed(field: str) -> None:
    # Without "search" the state once passed the checks and then failed with a bare TypeError.
    data = dict(GOOD)
    del data[field]
    with pytest.raises(SyncError) as caught:
        SyncState.from_json(data, "where")
    assert str(caught.value) == MALFORMED
