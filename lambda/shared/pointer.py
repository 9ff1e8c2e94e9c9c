"""The stage's model pointer: which project version the API serves.

One item of the model usage table, read and written only through this module
(by the inference API, the cost guard, the retraining workflow's promote and
``tools.models promote``)::

    project_version_arn          "active"  (POINTER_KEY; the table's partition key)
    active_project_version_arn   S   the promoted version's ARN
    promoted_at                  S   ISO 8601 UTC, seconds
    promoted_by                  S   who promoted (a user name, "retraining workflow")
    forced                       BOOL   promoted despite the F1 gate (tools.models --force)
    f1                           N   the version's F1 from its evaluation, when it had one
    labels                       SS  the version's labels, when its evaluation named them

Every write is conditional on the version the writer read before: two
promotions racing cannot both land, and the loser is told
(:class:`PointerChangedError`) instead of silently overwriting the winner. A
write that finds the pointer already naming its own version succeeds (a retry
whose first attempt landed).

The calls are passed in as callables taking boto3's keyword arguments
(``dynamodb.get_item``, or a caller's wrapper with its own timeouts and error
mapping), so each caller keeps its way of calling AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.aws_errors import error_code

POINTER_KEY = "active"
"""Partition key (``project_version_arn``) of the pointer item."""
KEY = {"project_version_arn": {"S": POINTER_KEY}}
ARN_FIELD = "active_project_version_arn"
LABELS_FIELD = "labels"


@dataclass(frozen=True)
class Pointer:
    """What the pointer item says (``arn`` None: nothing promoted yet)."""

    arn: str | None
    labels: frozenset[str] = frozenset()
    f1: float | None = None
    promoted_by: str | None = None


class PointerChangedError(Exception):
    """The pointer no longer names the version the writer read: nothing written."""


def parse(item: dict[str, Any]) -> Pointer:
    """A :class:`Pointer` from the item as DynamoDB's low-level API returns it (``{}``: none)."""
    f1 = item.get("f1", {}).get("N")
    return Pointer(
        arn=item.get(ARN_FIELD, {}).get("S"),
        labels=frozenset(item.get(LABELS_FIELD, {}).get("SS", [])),
        f1=float(f1) if f1 is not None else None,
        promoted_by=item.get("promoted_by", {}).get("S"),
    )


def read(get_item: Callable[..., Any], table: str) -> Pointer:
    """The pointer of the stage whose model usage table is ``table``.

    :param get_item: ``dynamodb.get_item`` or a wrapper taking the same keywords.
    """
    return parse(get_item(TableName=table, Key=KEY).get("Item", {}))


def write(
    put_item: Callable[..., Any],
    table: str,
    arn: str,
    *,
    expected: str | None,
    promoted_by: str,
    forced: bool = False,
    f1: float | None = None,
    labels: Iterable[str] = (),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Point the stage at ``arn`` if the pointer still names ``expected``.

    :param expected: the ARN read before deciding (None: nothing was promoted).
    :raises PointerChangedError: someone promoted another version in between
        (DynamoDB's ``ConditionalCheckFailedException``).
    """
    item: dict[str, Any] = {
        **KEY,
        ARN_FIELD: {"S": arn},
        "promoted_at": {"S": now().isoformat(timespec="seconds")},
        "promoted_by": {"S": promoted_by},
        "forced": {"BOOL": forced},
    }
    if f1 is not None:
        item["f1"] = {"N": f"{f1:.4f}"}
    names = sorted(set(labels))
    if names:
        item[LABELS_FIELD] = {"SS": names}
    # A retry whose first write landed (its answer lost) finds its own value: no change.
    condition: dict[str, Any] = (
        {
            "ConditionExpression": f"{ARN_FIELD} = :before OR {ARN_FIELD} = :arn",
            "ExpressionAttributeValues": {":before": {"S": expected}, ":arn": {"S": arn}},
        }
        if expected
        else {
            "ConditionExpression": f"attribute_not_exists({ARN_FIELD}) OR {ARN_FIELD} = :arn",
            "ExpressionAttributeValues": {":arn": {"S": arn}},
        }
    )
    try:
        put_item(TableName=table, Item=item, **condition)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise PointerChangedError(
                f"the pointer no longer names {expected or 'no version'}; read it again"
            ) from None
        raise
