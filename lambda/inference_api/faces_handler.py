"""Entry point of the faces function: ``POST /v1/faces/search`` and ``/v1/faces/analyze``.

The routes share the API's resolver, authentication, body parsing, image
checks, error answers and CORS (:mod:`inference_api.handler`); they run in a
function of their own (``FaceReader``) whose layer holds Pillow, which cuts
each face out of a group photo (:mod:`inference_api.face_crops`), so the
labels function never loads it. API Gateway sends only the face routes here,
and this function's role allows only what they need.

Environment: ``COLLECTION_ID``, ``UPLOADS_BUCKET``, ``ALLOWED_ORIGINS``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from shared import environment

from inference_api import faces
from inference_api.handler import (
    _body,
    _schema,
    _user_id,
    app,
    clients,
    lambda_handler,
    metrics,
    tracer,
)

__all__ = ["lambda_handler"]


@cache
def settings() -> faces.FacesSettings:
    """Read once per container from the environment the stack sets."""
    return environment.load(faces.FacesSettings, os.environ)


@app.post("/v1/faces/search")
@tracer.capture_method(capture_response=False)
def faces_search() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().FaceSearchRequest)
    result = faces.search_faces(
        settings(), clients(), user, request.image, request.max_faces, request.face_match_threshold
    )
    metrics.add_metric(name="FacesSearched", unit=MetricUnit.Count, value=result["faces_searched"])
    return result


@app.post("/v1/faces/analyze")
@tracer.capture_method(capture_response=False)
def faces_analyze() -> dict[str, Any]:
    user = _user_id()
    request = _body(_schema().FaceAnalyzeRequest)
    return faces.analyze_faces(settings(), clients(), user, request.image)
