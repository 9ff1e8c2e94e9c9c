"""``python -m tools.openapi``: write the API's OpenAPI document from the handler's routes.

The document (``docs/openapi.json``) is generated from the Powertools resolver
and the pydantic request models in ``lambda/inference_api``, so it cannot
drift from the code; ``tests/test_openapi.py`` fails if the committed copy is
stale. ``--check`` exits 1 instead of writing when it differs.
"""

from __future__ import annotations

import argparse
import json
import sys

from tools import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"


def generate() -> str:
    from inference_api.handler import app

    schema = app.get_openapi_json_schema(
        title="Phone image recognition API",
        version="1.0.0",
        description=(
            "Routes under /v1 of the stage's API Gateway URL (stack output ApiUrl). Every "
            "request needs a Cognito ID token of the stage's user pool in the Authorization "
            'header. Errors are JSON: {"error": {"code", "message", "field"}}. Limits: '
            "request body 10 MB (API Gateway); image bytes 4 MB for labels and 5 MB for faces "
            "after base64 decoding; uploads up to 15 MB through POST /v1/uploads."
        ),
    )
    return json.dumps(json.loads(schema), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.json is stale")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is stale: run python -m tools.openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(text)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
