"""Numbers read out of DynamoDB items (low-level client shapes), leniently.

A value the code did not write as expected (a string, a map, NaN, a missing
attribute) reads as None or is left out of a list: one bad attribute never fails
the caller's answer.
"""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """A ``{"N": ...}`` value as a finite number, or None."""
    raw = value.get("N") if isinstance(value, dict) else None
    try:
        found = float(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return found if found is not None and math.isfinite(found) else None


def numbers(item: dict[str, Any], name: str) -> list[float]:
    """The finite numbers of list attribute ``name`` (malformed entries left out)."""
    attribute = item.get(name)
    listed = attribute.get("L", []) if isinstance(attribute, dict) else []
    found = (number(entry) for entry in (listed if isinstance(listed, list) else []))
    return [x for x in found if x is not None]
