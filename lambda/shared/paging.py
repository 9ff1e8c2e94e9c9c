"""Every page of a paginated AWS call, through whatever calls AWS for the caller.

``call(client, operation, **params)`` is the caller's way of calling (the retraining
workflow's retrying :func:`retraining.steps.call`, or a plain call in the tools);
``token_out`` is the answer's marker of a next page, ``token_in`` the request's
parameter that asks for it (``NextContinuationToken``/``ContinuationToken``,
``LastEvaluatedKey``/``ExclusiveStartKey``, ``nextToken``/``nextToken``...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def plain_call(client: Any, operation: str, **params: Any) -> Any:
    """``client.<operation>(**params)``, as boto3 does it."""
    return getattr(client, operation)(**params)


def pages(
    call: Callable[..., Any],
    client: Any,
    operation: str,
    token_out: str,
    token_in: str,
    **params: Any,
) -> Iterator[dict[str, Any]]:
    """Each page of ``operation``, the first with ``params`` alone."""
    while True:
        page: dict[str, Any] = call(client, operation, **params)
        yield page
        marker = page.get(token_out)
        if not marker:
            return
        params = {**params, token_in: marker}
