"""The API benchmark loads the handler with the environment its stack really sets."""

from __future__ import annotations

from inference_api.calls import Settings
from shared import environment

from tools.bench.api import LAMBDA_ENV


def test_the_benchmarks_environment_holds_every_setting_the_handler_reads() -> None:
    read = environment.variables(Settings)

    missing = read - set(LAMBDA_ENV)
    # Lambda's own variables (AWS_*, LAMBDA_*, PATH...) and Powertools' are not settings.
    runtime = ("AWS_", "LAMBDA_", "POWERTOOLS_", "PATH", "PYTHONPATH", "LANG", "TZ", "LD_")
    stale = {n for n in LAMBDA_ENV if not n.startswith(runtime)} - read - {"ALLOWED_ORIGINS"}
    assert not missing, f"the benchmark misses {sorted(missing)}: it would fail to load"
    assert not stale, f"the benchmark sets {sorted(stale)}, which the function no longer reads"
    environment.load(Settings, LAMBDA_ENV)  # and every value parses
