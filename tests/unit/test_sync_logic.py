"""The pure parts of a sync: restart points, run plans, windows, entries and saved state."""

from __future__ import annotations

import pytest

from accutics_async import ConfigurationError, SyncError
from accutics_async.sync._keys import (
    check_key,
    encode_entries,
    instant,
    sink_kind,
    table_name,
    window_search,
)
from accutics_async.sync._run import check_lookback, later_watermark, plan_run
from accutics_async.sync._state import SyncState
from accutics_async.sync._walk import restart_point


def test_restart_point_never_moves_back_for_an_empty_window_and_stops_at_a_crowded_second() -> None:
    assert restart_point(None, 1000, None) == 1000  # idle: no drift back by lookback
    assert restart_point(900, 1000, None) == 1000  # re-read records before the old point
    assert restart_point(1200, 1000, None) == 1200
    assert restart_point(1200, 1000, 1100) == 1100  # an unsettled second is walked again
    assert restart_point(None, None, None) is None


def test_plan_run_windows() -> None:
    state = SyncState(path="/records", search=None, key="updated_at", restart=10_000)
    plain = plan_run(state, full=False, lookback=300)
    assert (plain.lower, plain.floor, plain.full) == (9_700, 10_000, False)
    fresh = plan_run(state, full=True, lookback=300)
    assert (fresh.lower, fresh.full, fresh.fresh_full) == (None, True, True)
    interrupted = SyncState(
        path="/records", search=None, key="updated_at", restart=5_000, walking_full=True
    )
    again = plan_run(interrupted, full=False, lookback=300)
    assert (again.lower, again.full, again.fresh_full) == (4_700, True, False)
    assert plan_run(None, full=False, lookback=300).lower is None


def test_window_search_keeps_the_users_filters_first() -> None:
    assert window_search(None, "updated_at", None) is None
    assert window_search("input_medium:=:email", "updated_at", 0, 1) == (
        "input_medium:eq:email;updated_at:gte:1970-01-01T00:00:00Z;"
        "updated_at:lt:1970-01-01T00:00:01Z"
    )


def test_entries_need_an_id_and_a_timestamp_key() -> None:
    (entry,) = encode_entries([{"id": "a", "updated_at": "2024-01-01T00:00:01.750Z"}], "updated_at")
    assert entry.second == instant("2024-01-01T00:00:01Z")
    assert entry.body == b'{"id":"a","updated_at":"2024-01-01T00:00:01.750Z"}'
    for bad in ([1], [{"updated_at": "2024-01-01T00:00:00Z"}], [{"id": "a", "updated_at": 5}]):
        with pytest.raises(SyncError):
            encode_entries(bad, "updated_at")


def test_names_and_arguments_are_checked() -> None:
    assert table_name("/v2/stream/records/", None) == "records"
    for bad in ("drop table", "accutics_sync_state", "sqlite_master"):
        with pytest.raises(SyncError):
            table_name("/records", bad)
    with pytest.raises(SyncError):
        check_key("id")
    with pytest.raises(SyncError):
        sink_kind("out.csv")
    assert check_lookback(0.2) == 1
    for bad in (-1, float("nan"), "300", True):
        with pytest.raises(ConfigurationError):
            check_lookback(bad)


def test_watermark_compares_instants_not_text() -> None:
    (entry,) = encode_entries(
        [{"id": "a", "updated_at": "2024-01-01T01:00:00+01:00"}], "updated_at"
    )
    assert later_watermark("2024-01-01T00:00:01Z", [entry]) == "2024-01-01T00:00:01Z"


def test_saved_state_that_is_not_ours_is_refused() -> None:
    good = SyncState(path="/records", search=None, key="updated_at", restart=5).to_json()
    assert SyncState.from_json(good, "x").restart == 5
    for bad in (
        None,
        [],
        {**good, "kind": "other"},
        {**good, "version": 9},
        {**good, "restart": "5"},
    ):
        with pytest.raises(SyncError):
            SyncState.from_json(bad, "x")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-01-01T00:00:01Z", 1704067201.0),
        ("2024-01-01T01:00:01+01:00", 1704067201.0),
        ("2024-01-01T00:00:01.25Z", 1704067201.25),
        ("2024-01-01 00:00:01", 1704067201.0),  # no zone: UTC
    ],
)
def test_key_values_are_read_as_the_client_reads_timestamps(text: str, seconds: float) -> None:
    assert instant(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30T00:00:00Z",  # no such day: not rolled over into March
        "\u0662\u0660\u0662\u0664-01-01T00:00:00Z",  # Arabic-Indic digits
        "2024-W01-1T00:00:00Z",
        "yesterday",
    ],
)
def test_what_is_not_a_timestamp_is_not_a_key_value(text: str) -> None:
    assert instant(text) is None
