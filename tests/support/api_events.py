"""Handler-test helpers: the answer checked against the API's contract, the handler reloaded.

The events themselves are :mod:`tools.bench.events` (the benchmarks use them too).
"""

from __future__ import annotations

from typing import Any

from tools.bench.events import (
    OTHER_USER,
    USER,
    LambdaContext,
    api_settings,
    b64,
    group_photo,
    image_bytes,
    rest_event,
)

__all__ = [
    "OTHER_USER",
    "USER",
    "LambdaContext",
    "api_settings",
    "b64",
    "check_contract",
    "group_photo",
    "image_bytes",
    "reload_handler",
    "rest_event",
]


def check_contract(event: dict[str, Any], status: int, body: dict[str, Any]) -> None:
    """The answer is what docs/openapi.json promises for the route: its 200 schema, or an
    error code the route lists, with the catalogue's status, in the error schema."""
    from inference_api.errors import CATALOGUE
    from inference_api.schema import ROUTES, ErrorResponse

    route = next(
        (r for r in ROUTES if (r.method, r.path) == (event["httpMethod"], event["path"])), None
    )
    if status == 200:
        assert route is not None
        route.response.model_validate(body)
        return
    ErrorResponse.model_validate(body)
    code = body["error"]["code"]
    assert CATALOGUE[code][0] == status, (code, status)
    if route is None:
        assert code == "not_found"
    else:
        assert code in route.errors, f"{code} is not documented for {route.path}"


def reload_handler() -> Any:
    """Reload ``inference_api.handler`` (it reads ``ALLOWED_ORIGINS`` at import), and the
    code reader's and faces function's entry points with it, which register their routes
    on the handler's resolver."""
    import importlib
    import sys

    from inference_api import handler

    reloaded = importlib.reload(handler)
    for entry_point in ("inference_api.codes_handler", "inference_api.faces_handler"):
        if entry_point in sys.modules:
            importlib.reload(sys.modules[entry_point])
    return reloaded
