"""A function's environment, parsed into its typed settings.

Each function declares a frozen dataclass of its settings; :func:`load` reads
one variable per field, named after it in upper case (or as the field's
``metadata={"env": NAME}`` says), and converts it by the field's annotation
(``str``, ``int``, ``float``, or ``bool`` as ``true``/``false``).

There are no defaults here: the stack sets every variable from the stage's
config (``stacks/config.py`` holds each default once), and a test proves each
function's fields and the variables its stack sets are the same names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints

T = TypeVar("T")


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


def variable(field: dataclasses.Field[Any]) -> str:
    """The environment variable of a settings field."""
    return str(field.metadata.get("env", field.name.upper()))


def variables(settings_type: type[Any]) -> frozenset[str]:
    """The variables :func:`load` reads for ``settings_type``."""
    return frozenset(variable(f) for f in dataclasses.fields(settings_type))


def _convert(name: str, raw: str, kind: Any) -> Any:
    if kind is bool:
        if raw not in {"true", "false"}:
            raise SettingsError(f"{name} must be 'true' or 'false', not {raw!r}")
        return raw == "true"
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    return raw


def load(settings_type: type[T], env: Mapping[str, str]) -> T:
    """``settings_type`` with every field read from ``env``.

    :raises SettingsError: naming each missing variable, or the malformed one.
    """
    hints = get_type_hints(settings_type)
    fields = dataclasses.fields(settings_type)  # type: ignore[arg-type]
    missing = [variable(f) for f in fields if variable(f) not in env]
    if missing:
        raise SettingsError(f"missing environment variables: {', '.join(missing)}")
    values = {f.name: _convert(variable(f), env[variable(f)], hints[f.name]) for f in fields}
    return settings_type(**values)
