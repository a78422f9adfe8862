"""Settings shared by the whole suite: the hypothesis profile.

One profile, loaded by default, instead of per-test settings: a shared or
cold CI machine makes example generation and runs slow at random, which must
not turn into a failing test. ``HYPOTHESIS_PROFILE=dev`` restores hypothesis'
own defaults (deadline and health checks on) for local hunting.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    # Timing is the machine's, not the code's: no per-example deadline.
    deadline=None,
    # Generating JSON documents and record lists is legitimately heavy.
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
