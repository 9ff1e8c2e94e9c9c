"""``python -m tools.bench.api``: how much the inference API handler costs, side by side.

Prints, from one run on this machine:

* cold import of ``inference_api.handler`` vs a bare ``import boto3``, both
  measured the way Lambda loads the function: fresh interpreters (median of
  :data:`IMPORT_RUNS`, the two interleaved), the asset folder ``lambda/``
  alone on ``PYTHONPATH``, ``LAMBDA_TASK_ROOT`` and the function's
  environment set (so Powertools' Tracer is on and loads the X-Ray SDK, as
  in Lambda), and no ``awscrt`` (which the dev venv has through awsiotsdk
  and Lambda's runtime does not; botocore loads it when present). The venv's
  site-packages stand in for the runtime's boto3 and the Powertools layer.
  Target: at most 1.5x;
* the first request right after that import (``POST /v1/labels``, AWS
  stubbed): what the lazily loaded parts (pydantic and the route's model)
  cost, so the import figure hides nothing;
* warm per-request handler time (p50/p95, ms) with every AWS client stubbed
  by botocore's Stubber (so AWS latency is excluded), for an image given as
  an upload's ``s3_key`` (target p50 under 5 ms) and as a 4 MB base64 body
  (target p50 under 60 ms).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tools import ROOT

IMPORT_RUNS = 15
LAMBDA_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "PYTHONPATH": str(ROOT / "lambda"),
    "LAMBDA_TASK_ROOT": str(ROOT / "lambda"),
    "AWS_LAMBDA_FUNCTION_NAME": "Dev-Service-InferenceApiFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    # The function's own environment (stacks/service/inference_api.py, building_blocks.py).
    "POWERTOOLS_SERVICE_NAME": "inference-api-dev",
    "POWERTOOLS_METRICS_NAMESPACE": "PhoneImageRecognition",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "PROJECT_ARN": "arn:aws:rekognition:us-east-1:123456789012:project/p/1",
    "MODEL_USAGE_TABLE": "usage",
    "UPLOADS_BUCKET": "uploads",
    # dev's provisional answers (its clients are made with the first request, not at import)
    "SUSTAINED_MINUTES_WITH_REQUESTS": "2",
    "SUSTAINED_WITHIN_MINUTES": "10",
    "PROVISIONAL_ENABLED": "true",
    "PROVISIONAL_K": "5",
    "PROVISIONAL_MIN_SIMILARITY": "0.6",
    "EMBEDDING_MODEL": "titan-multimodal-g1",
    "PHOTO_INDEX_ARN": "arn:aws:s3vectors:us-east-1:123456789012:bucket/b/index/labelled-photos",
    "USD_PER_INFERENCE_UNIT_HOUR": "4",
    "AUTO_START_ON_DEMAND": "true",
    "MIN_INFERENCE_UNITS": "1",
    "UPLOAD_URL_EXPIRY_SECONDS": "300",
    "TRAINING_BUCKET": "training",
    "FEEDBACK_TABLE": "feedback",
    "REVIEW_BELOW_CONFIDENCE": "0",
    "DAILY_UNIT_HOUR_CAP": "8",
    "ALLOWED_ORIGINS": "http://localhost:5173",
}
"""What Lambda's environment holds for the function (no POWERTOOLS_TRACE_DISABLED)."""
NO_AWSCRT = "import sys; sys.modules['awscrt'] = None"
"""Makes ``import awscrt`` fail as it does in Lambda's Python runtime."""
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT / 'lambda'}{os.pathsep}{ROOT}",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}
"""The warm-request measurements' environment (in this process, tracing off)."""


def _run(code: str, env: dict[str, str]) -> str:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


def import_seconds(module: str) -> float:
    """Wall time of ``import module`` in one fresh interpreter, loaded as Lambda loads it."""
    code = (
        f"{NO_AWSCRT}; import time; t = time.perf_counter(); import {module}; "
        "print(time.perf_counter() - t)"
    )
    return float(_run(code, LAMBDA_ENV))


def cold_imports() -> tuple[float, float]:
    """Medians of ``import boto3`` and ``import inference_api.handler``, runs interleaved."""
    boto3_runs, handler_runs = [], []
    for _ in range(IMPORT_RUNS):
        boto3_runs.append(import_seconds("boto3"))
        handler_runs.append(import_seconds("inference_api.handler"))
    return statistics.median(boto3_runs), statistics.median(handler_runs)


FIRST_REQUEST = """
import sys, time
sys.path.append(sys.argv[1])
from inference_api import handler
from botocore.stub import Stubber
from tools.bench.events import LambdaContext, b64, image_bytes, rest_event
version = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v1/1"
clients = handler.clients()
rekognition, dynamodb = Stubber(clients.rekognition), Stubber(clients.dynamodb)
rekognition.activate()
dynamodb.activate()
dynamodb.add_response("get_item", {"Item": {"active_project_version_arn": {"S": version}}})
dynamodb.add_response("update_item", {})
labels = {"CustomLabels": [{"Name": "qr", "Confidence": 99.0}]}
rekognition.add_response("detect_custom_labels", labels)
event = rest_event("POST", "/v1/labels", {"image": {"bytes": b64(image_bytes(640, 480))}})
start = time.perf_counter()
response = handler.lambda_handler(event, LambdaContext())
elapsed = time.perf_counter() - start
assert response["statusCode"] == 200, response
print(elapsed, file=sys.stderr)
"""
"""Import the handler, then time its first request (tracing off: no X-Ray daemon here)."""


def first_request_seconds() -> float:
    """Median time of the first labels request in fresh interpreters, right after import."""
    runs = []
    for _ in range(5):
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", f"{NO_AWSCRT}\n{FIRST_REQUEST}", str(ROOT)],
            env={**LAMBDA_ENV, "POWERTOOLS_TRACE_DISABLED": "true"},
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(float(done.stderr.strip().splitlines()[-1]))
    return statistics.median(runs)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def request_times(
    n: int, make_event: Callable[[], dict[str, Any]], queue: Callable[[], None]
) -> list[float]:
    from inference_api import handler

    from tools.bench.events import LambdaContext

    context = LambdaContext()
    times = []
    for _ in range(n):
        queue()
        event = make_event()
        with contextlib.redirect_stdout(io.StringIO()):  # the EMF metric lines
            start = time.perf_counter()
            response = handler.lambda_handler(event, context)
            times.append(time.perf_counter() - start)
        assert response["statusCode"] == 200, response["body"]
    return times


def warm_requests() -> dict[str, tuple[float, float]]:
    os.environ.update({k: v for k, v in ENV.items() if k != "PYTHONPATH"})
    import boto3
    from botocore.stub import Stubber
    from inference_api import calls, handler
    from PIL import Image
    from shared.layout import user_prefix

    from tools.bench.events import USER, api_settings, b64, rest_event

    version = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v1/1"
    clients = calls.Clients(
        boto3.client("rekognition"),
        boto3.client("s3", config=handler.S3_CONFIG),
        boto3.client("dynamodb"),
    )
    settings = api_settings(
        project_arn="arn:aws:rekognition:us-east-1:123456789012:project/p/1",
        model_usage_table="usage",
        uploads_bucket="uploads",
    )
    handler.settings = lambda: settings  # type: ignore[assignment]
    handler.clients = lambda: clients  # type: ignore[assignment]
    stubs = [Stubber(clients.rekognition), Stubber(clients.s3), Stubber(clients.dynamodb)]
    for stub in stubs:
        stub.activate()
    rekognition, s3, dynamodb = stubs
    # First request reads the model pointer and writes usage once; later ones use the caches.
    dynamodb.add_response("get_item", {"Item": {"active_project_version_arn": {"S": version}}})
    dynamodb.add_response("update_item", {})
    labels = {"CustomLabels": [{"Name": "with_qr", "Confidence": 99.0}]}

    def queue_s3() -> None:
        s3.add_response("head_object", {"ContentLength": 2_000_000, "ContentType": "image/jpeg"})
        rekognition.add_response("detect_custom_labels", labels)

    key_event = rest_event(
        "POST", "/v1/labels", {"image": {"s3_key": f"{user_prefix(USER)}photo.jpg"}}
    )
    s3_times = request_times(500, lambda: key_event, queue_s3)

    buffer = io.BytesIO()
    noise = Image.effect_noise((2048, 1536), 90).convert("RGB")
    noise.save(buffer, format="JPEG", quality=98)
    data = buffer.getvalue()
    while len(data) > 4 * 1024 * 1024:
        data = data[: 4 * 1024 * 1024]
    body_event = rest_event("POST", "/v1/labels", {"image": {"bytes": b64(data)}})

    def queue_bytes() -> None:
        rekognition.add_response("detect_custom_labels", labels)

    bytes_times = request_times(60, lambda: dict(body_event), queue_bytes)
    return {
        "s3_key path": percentiles(s3_times),
        f"{len(data) / 1024 / 1024:.1f} MB base64 body": percentiles(bytes_times),
    }


def main() -> int:
    boto3_s, handler_s = cold_imports()
    first_s = first_request_seconds()
    print("Inference API handler benchmark (one run, this machine)")
    print(
        f"  cold import as Lambda loads it (median of {IMPORT_RUNS})  boto3: "
        f"{boto3_s * 1000:6.1f} ms   inference_api.handler: {handler_s * 1000:6.1f} ms   "
        f"ratio {handler_s / boto3_s:.2f}x (target <= 1.5x)"
    )
    print(
        f"  first request right after import (labels, AWS stubbed): {first_s * 1000:6.1f} ms "
        "(loads pydantic and the route's model)"
    )
    for name, (p50, p95) in warm_requests().items():
        print(f"  warm request {name:>22}: p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
    print("  targets: s3_key path p50 < 5 ms; 4 MB body p50 < 60 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
