"""Settings shared by the whole suite: the hypothesis profile, and the drop-behind fixtures.

One profile, loaded by default, instead of per-test settings: a shared or
cold CI machine makes example generation and runs slow at random, which must
not turn into a failing test. ``HYPOTHESIS_PROFILE=dev`` restores hypothesis'
own defaults (deadline and health checks on) for local hunting.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future

import pytest
from hypothesis import HealthCheck, settings

from accutics_async.export import _drop_behind

settings.register_profile(
    "ci",
    # Timing is the machine's, not the code's: no per-example deadline.
    deadline=None,
    # Generating JSON documents and record lists is legitimately heavy.
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def advice_done_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each drop-behind advice is over before the next is due, so none is skipped for running
    still: the windows advised are the same however loaded the machine."""
    real = _drop_behind._in_background

    def at_once(worker: Executor, *args: int) -> Future[None]:
        advice = real(worker, *args)
        advice.result()
        return advice

    monkeypatch.setattr(_drop_behind, "_in_background", at_once)


@pytest.fixture
def fake_advice(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., None], int], None]:
    """``fake_advice(fadvise, window)``: drop-behind advice goes to ``fadvise`` every
    ``window`` bytes appended, on any platform (``POSIX_FADV_DONTNEED`` given as 4)."""

    def use(fadvise: Callable[..., None], window: int) -> None:
        monkeypatch.setattr(_drop_behind, "_fadvise", fadvise)
        monkeypatch.setattr(_drop_behind, "_DONTNEED", 4)
        monkeypatch.setattr(_drop_behind, "_DROP_BEHIND_BYTES", window)

    return use
