"""The API benchmark loads the handler with the environment its stack really sets."""

from __future__ import annotations

from inference_api.calls import Settings
from shared import environment

from tools.bench.api import LAMBDA_ENV


def test_the_benchmarks_environment_holds_every_setting_the_handler_reads() -> None:
    read = environment.variables(Settings)

    missing = read - set(LAMBDA_ENV)
    stale = {name for name in LAMBDA_ENV if name.isupper()} - read - {
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "ALLOWED_ORIGINS",
    }
    assert not missing, f"the benchmark misses {sorted(missing)}: it would fail to load"
    assert not {n for n in stale if not n.startswith("POWERTOOLS_")}, sorted(stale)
    environment.load(Settings, LAMBDA_ENV)  # and every value parses
