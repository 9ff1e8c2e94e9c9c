"""The API's routes: method and path, and which function serves each.

The stack creates exactly these methods; the schema
(``inference_api.schema.ROUTES``) describes each one, and a test proves the
two lists equal.
"""

from __future__ import annotations

API_VERSION_PREFIX = "/v1/"
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/v1/uploads"),
    ("POST", "/v1/labels"),
    ("POST", "/v1/faces/search"),
    ("POST", "/v1/faces/analyze"),
    ("GET", "/v1/models"),
    ("POST", "/v1/feedback"),
    ("GET", "/v1/review"),
    ("POST", "/v1/review"),
    ("POST", "/v1/codes"),
)
CODE_READER_ROUTES = frozenset({("POST", "/v1/codes")})
"""Served by the code reader's own function (its layer holds the native decoder)."""
FACE_ROUTES = frozenset({("POST", "/v1/faces/search"), ("POST", "/v1/faces/analyze")})
"""Served by the faces function (its layer holds Pillow, for the face crops); every other
route by the API's function."""
