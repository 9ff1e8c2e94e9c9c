"""A function's environment parsed into its settings: every variable named when wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from shared.environment import SettingsError, load, variables


@dataclass(frozen=True)
class Example:
    table: str
    units: int
    threshold: float
    auto_start: bool = field(metadata={"env": "AUTO_START_ON_DEMAND"})


GOOD = {"TABLE": "t", "UNITS": "2", "THRESHOLD": "0.5", "AUTO_START_ON_DEMAND": "true"}


def test_every_field_is_read_and_converted_by_its_type() -> None:
    assert load(Example, GOOD) == Example("t", 2, 0.5, auto_start=True)


def test_the_variables_are_the_fields_or_their_env_names() -> None:
    assert variables(Example) == {"TABLE", "UNITS", "THRESHOLD", "AUTO_START_ON_DEMAND"}


def test_missing_variables_are_all_named() -> None:
    with pytest.raises(SettingsError, match="missing environment variables: UNITS, THRESHOLD"):
        load(Example, {"TABLE": "t", "AUTO_START_ON_DEMAND": "false"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("UNITS", "two", "UNITS must be a number, not 'two'"),
        ("THRESHOLD", "", "THRESHOLD must be a number, not ''"),
        (
            "AUTO_START_ON_DEMAND",
            "yes",
            "AUTO_START_ON_DEMAND must be 'true' or 'false', not 'yes'",
        ),
    ],
)
def test_a_malformed_variable_is_named_with_what_is_allowed(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load(Example, {**GOOD, name: value})

    assert str(raised.value) == message
