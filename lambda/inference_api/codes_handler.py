"""Entry point of the code reader's own function: ``POST /v1/codes``.

The route shares the API's resolver, authentication, body parsing, image
checks, error answers and CORS (:mod:`inference_api.handler`); it runs in a
function of its own (``CodeReader``) whose layer holds the native decoder, so
the labels function never loads it. API Gateway sends only ``/v1/codes``
here, and this function's role allows nothing the other routes need.

Environment: ``UPLOADS_BUCKET``; ``CODES_TEXT_FALLBACK`` (``true``: printed
ISBNs through Rekognition DetectText); ``ALLOWED_ORIGINS``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from shared import environment

from inference_api import codes
from inference_api.handler import (
    _body,
    _reported,
    _schema,
    _user_id,
    app,
    clients,
    lambda_handler,
    metrics,
    tracer,
)

__all__ = ["lambda_handler"]

text_search_failed = _reported("printed-ISBN text search", "CodesTextSearchFailures")
"""DetectText failed: the barcodes found are still answered (``text_search: failed``)."""


@cache
def settings() -> codes.CodesSettings:
    """Read once per container from the environment the stack sets."""
    return environment.load(codes.CodesSettings, os.environ)


@app.post("/v1/codes")
@tracer.capture_method(capture_response=False)
def read_codes() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().CodesRequest)
    result = codes.read_codes(
        settings(), clients(), user, request.image, request.formats, text_search_failed
    )
    metrics.add_metric(name="CodesRead", unit=MetricUnit.Count, value=len(result["codes"]))
    if result["text_search"] == "done":
        metrics.add_metric(name="CodesTextSearches", unit=MetricUnit.Count, value=1)
    return result
