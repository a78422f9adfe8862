"""The suite's own settings: one hypothesis profile that a slow machine cannot flake."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings


@pytest.mark.skipif(
    os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for"
)
def test_the_ci_profile_is_loaded_by_default() -> None:
    # tests/conftest.py: no per-example deadline, and slow generation of big
    # JSON documents is not a failure (it was, on every cold run under load).
    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check
