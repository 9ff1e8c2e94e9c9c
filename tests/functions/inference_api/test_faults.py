"""The inference API under AWS faults and hostile input: every answer deliberate, nothing leaked.

Events are shaped as API Gateway's REST proxy sends them (Cognito claims,
``multiValueHeaders``, ``isBase64Encoded``). AWS is played two ways:

* botocore's ``Stubber`` (request shapes checked against the service
  models) with errors in the shape botocore's parsers produce;
* a ``before-send`` hook that answers with a raw HTTP response (an empty
  403 to HeadObject, as S3 sends it) or raises botocore's own transport
  exceptions (``ReadTimeoutError``...), so botocore's retry logic and parser
  run exactly as in Lambda.

No answer in this module is a 500 unless the test is about the 500 itself.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.stub import Stubber
from inference_api import calls, errors, faces, faces_handler, handler, images, labels
from shared.pointer import POINTER_KEY as ACTIVE_POINTER_KEY

from tests.support.api_events import (
    USER,
    LambdaContext,
    api_settings,
    b64,
    check_contract,
    image_bytes,
    reload_handler,
    rest_event,
)

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
PROJECT = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/imgrec-dev-custom-labels/1700000000000"
VERSION = (
    f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/imgrec-dev-custom-labels/version/"
    "qr-v1/1700000000001"
)
BUCKET = f"imgrec-dev-uploads-{ACCOUNT}"
USAGE_TABLE = "Dev-Data-ModelUsageTable-1ABCDEF"
SETTINGS = api_settings(
    project_arn=PROJECT,
    model_usage_table=USAGE_TABLE,
    uploads_bucket=BUCKET,
)
AWS_MESSAGE = f"User: arn:aws:sts::{ACCOUNT}:assumed-role/x is not authorized on {BUCKET}"
"""What AWS says in an error: it names the account and the bucket; it must stay in the logs."""
SECRETS = (ACCOUNT, "arn:", BUCKET, USAGE_TABLE, "imgrec-dev-custom-labels")
JPEG = image_bytes(640, 480)
FACES_SETTINGS = faces.FacesSettings(collection_id="imgrec-dev-faces", uploads_bucket=BUCKET)
POINTER_KEY = {"project_version_arn": {"S": ACTIVE_POINTER_KEY}}


class _Raw:
    """The raw stream of a canned HTTP response (what urllib3 would hand botocore)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class Aws:
    """The real boto3 clients, each with a Stubber, as the handler configures them."""

    clients: calls.Clients
    rekognition: Stubber
    s3: Stubber
    dynamodb: Stubber
    bedrock: Stubber
    s3vectors: Stubber
    sleeps: list[float] = field(default_factory=list)

    def call(
        self, event: dict[str, Any], context: LambdaContext | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        response = handler.lambda_handler(event, context or LambdaContext())
        headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers.update(response.get("headers") or {})
        body = json.loads(response["body"])
        check_contract(event, response["statusCode"], body)
        if response["statusCode"] >= 400:
            assert_error_shape(response["statusCode"], body, headers)
        return response["statusCode"], body, headers

    def pointer(self, arn: str | None = VERSION) -> None:
        item = {"Item": {**POINTER_KEY, "active_project_version_arn": {"S": arn}}} if arn else {}
        self.dynamodb.add_response("get_item", item, {"TableName": USAGE_TABLE, "Key": POINTER_KEY})

    def head(self, key: str, size: int = len(JPEG)) -> None:
        self.s3.add_response(
            "head_object",
            {"ContentLength": size, "ContentType": "image/jpeg"},
            {"Bucket": BUCKET, "Key": key},
        )

    def without_stubber(self, name: str) -> Any:
        """The client, its Stubber deactivated, for before-send faults."""
        getattr(self, name).deactivate()
        return getattr(self.clients, name)


def assert_error_shape(status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    """The stable error shape, the catalogue's status, and nothing of AWS's."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "field"} <= set(error), error
    assert errors.CATALOGUE[error["code"]][0] == status, (status, error)
    text = json.dumps(body)
    for secret in SECRETS:
        assert secret not in text, (secret, body)
    assert "Traceback" not in text
    assert "not authorized" not in text
    if status in (429, 503):
        assert int(headers["Retry-After"]) > 0


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the function logged, with the extra keys (``cause``...)."""
    return json.dumps([{**r.__dict__, "msg": r.getMessage()} for r in caplog.records], default=str)


def http_answer(client: Any, operation: str, status: int, body: bytes = b"") -> list[int]:
    """Answer ``operation`` with a raw HTTP response; returns the list of attempts."""
    return _before_send(
        client, operation, lambda: AWSResponse("https://aws", status, {}, _Raw(body))
    )


def transport_error(client: Any, operation: str, error: Exception) -> list[int]:
    """Raise botocore's transport exception on every attempt; returns the attempts."""

    def fail() -> AWSResponse:
        raise error

    return _before_send(client, operation, fail)


def _before_send(client: Any, operation: str, answer: Callable[[], AWSResponse]) -> list[int]:
    attempts: list[int] = []
    service_id = client.meta.service_model.service_id.hyphenize()

    def before_send(**_: Any) -> AWSResponse:
        attempts.append(1)
        return answer()

    client.meta.events.register(f"before-send.{service_id}.{operation}", before_send)
    return attempts


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    clients = calls.Clients(
        boto3.client("rekognition", config=calls.BUDGETS["rekognition"].config()),
        boto3.client("s3", config=handler.S3_CONFIG),
        boto3.client("dynamodb", config=calls.BUDGETS["dynamodb"].config()),
        time_left=handler.seconds_left,
        bedrock=boto3.client("bedrock-runtime", config=calls.BUDGETS["bedrock"].config()),
        s3vectors=boto3.client("s3vectors", config=calls.BUDGETS["s3vectors"].config()),
    )
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)  # botocore's retry backoff, recorded
    monkeypatch.setattr(handler, "settings", lambda: SETTINGS)
    monkeypatch.setattr(handler, "clients", lambda: clients)
    monkeypatch.setattr(faces_handler, "settings", lambda: FACES_SETTINGS)
    monkeypatch.setattr(faces_handler, "clients", lambda: clients)
    monkeypatch.setattr(
        handler,
        "STATE",
        calls.State(
            on_usage_write_failure=handler.usage_write_failed,
            on_review_queue_failure=handler.review_queue_failed,
            on_provisional_failure=handler.provisional_failed,
        ),
    )
    stubbers = [
        Stubber(client)
        for client in (
            clients.rekognition,
            clients.s3,
            clients.dynamodb,
            clients.bedrock,
            clients.s3vectors,
        )
    ]
    for stubber in stubbers:
        stubber.activate()
    rekognition, s3, dynamodb, bedrock, s3vectors = stubbers
    yield Aws(clients, rekognition, s3, dynamodb, bedrock, s3vectors, sleeps=sleeps)
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def labels_event(**image: Any) -> dict[str, Any]:
    return rest_event("POST", "/v1/labels", {"image": image or {"bytes": b64(JPEG)}})


# --- 1. every AWS call is mapped -------------------------------------------------


@pytest.mark.parametrize(
    ("aws_code", "http", "status", "code"),
    [
        ("ProvisionedThroughputExceededException", 400, 429, "throttled"),
        ("ThrottlingException", 400, 429, "throttled"),
        ("RequestLimitExceeded", 400, 429, "throttled"),
        ("ResourceNotFoundException", 400, 502, "upstream_not_found"),
        ("AccessDeniedException", 400, 502, "upstream_access_denied"),
        ("InternalServerError", 500, 503, "upstream_unavailable"),
    ],
)
def test_model_pointer_read_failures(
    aws: Aws, aws_code: str, http: int, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    aws.dynamodb.add_client_error(
        "get_item",
        aws_code,
        AWS_MESSAGE,
        http,
        expected_params={"TableName": USAGE_TABLE, "Key": POINTER_KEY},
    )

    got, body, _ = aws.call(labels_event())

    assert (got, body["error"]["code"]) == (status, code)
    assert aws_code in logged(caplog)
    assert AWS_MESSAGE in logged(caplog)


def test_usage_write_failure_keeps_the_billed_answer_logs_and_counts_it(
    aws: Aws, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    aws.pointer()
    aws.rekognition.add_response(
        "detect_custom_labels", {"CustomLabels": [{"Name": "qr", "Confidence": 99.0}]}
    )
    aws.dynamodb.add_client_error(
        "update_item", "ProvisionedThroughputExceededException", AWS_MESSAGE, 400
    )
    # The next request (same container, same minute) tries the write again.
    aws.rekognition.add_response("detect_custom_labels", {"CustomLabels": []})
    aws.dynamodb.add_response("update_item", {})

    first, body, _ = aws.call(labels_event())
    second, _, _ = aws.call(labels_event())

    assert (first, second) == (200, 200)
    assert body["labels"][0]["name"] == "qr"
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    assert any(m.get("UsageWriteFailures") == [1.0] for m in metrics), out
    assert "usage write failed" in logged(caplog)


def test_usage_write_timeout_keeps_the_answer(aws: Aws) -> None:
    aws.rekognition.add_response("detect_custom_labels", {"CustomLabels": []})
    dynamodb = aws.clients.dynamodb
    aws.dynamodb.deactivate()
    aws.dynamodb = Stubber(dynamodb)  # a fresh, inactive one for the fixture's final check
    handler.STATE.pointer = (time.time(), VERSION)
    attempts = transport_error(
        dynamodb, "UpdateItem", ReadTimeoutError(endpoint_url="https://dynamodb")
    )

    status, body, _ = aws.call(labels_event())

    assert status == 200
    assert body["labels"] == []
    assert len(attempts) == calls.BUDGETS["dynamodb"].max_attempts


def _not_ready(aws: Aws) -> None:
    aws.pointer()
    aws.rekognition.add_client_error(
        "detect_custom_labels", "ResourceNotReadyException", AWS_MESSAGE, 400
    )
    # Demand for a model that is not running is recorded too (the adaptive policy learns it).
    aws.dynamodb.add_response("update_item", {})


def _described(aws: Aws, status: str) -> None:
    aws.rekognition.add_response(
        "describe_project_versions",
        {"ProjectVersionDescriptions": [{"ProjectVersionArn": VERSION, "Status": status}]},
        {"ProjectArn": PROJECT, "VersionNames": ["qr-v1"]},
    )
    if status == "STOPPED":  # auto-start first reads today's billed minutes (the cap)
        aws.dynamodb.add_response("get_item", {})


@pytest.mark.parametrize(
    ("start_error", "code", "retry_after"),
    [
        ("ResourceInUseException", "model_starting", labels.STARTING_RETRY_AFTER_SECONDS),
        ("LimitExceededException", "model_not_running", labels.STARTING_RETRY_AFTER_SECONDS),
        ("ThrottlingException", "model_not_running", labels.START_FAILED_RETRY_AFTER_SECONDS),
        ("InternalServerError", "model_not_running", labels.START_FAILED_RETRY_AFTER_SECONDS),
    ],
)
def test_start_project_version_failures_are_503_with_retry_after(
    aws: Aws, start_error: str, code: str, retry_after: int
) -> None:
    _not_ready(aws)
    _described(aws, "STOPPED")
    aws.rekognition.add_client_error(
        "start_project_version",
        start_error,
        AWS_MESSAGE,
        500 if start_error == "InternalServerError" else 400,
        expected_params={"ProjectVersionArn": VERSION, "MinInferenceUnits": 1},
    )

    status, body, headers = aws.call(labels_event())

    assert (status, body["error"]["code"]) == (503, code)
    assert headers["Retry-After"] == str(retry_after)
    assert body["error"]["model_version"] == "qr-v1"


def test_start_project_version_access_denied_is_502(aws: Aws) -> None:
    _not_ready(aws)
    _described(aws, "STOPPED")
    aws.rekognition.add_client_error(
        "start_project_version", "AccessDeniedException", AWS_MESSAGE, 400
    )

    status, body, _ = aws.call(labels_event())

    assert (status, body["error"]["code"]) == (502, "upstream_access_denied")


@pytest.mark.parametrize(
    "describe_error",
    ["ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"],
)
def test_describe_failing_while_model_not_ready_is_still_503_not_running(
    aws: Aws, describe_error: str
) -> None:
    _not_ready(aws)
    aws.rekognition.add_client_error(
        "describe_project_versions",
        describe_error,
        AWS_MESSAGE,
        500 if describe_error == "InternalServerError" else 400,
    )

    status, body, headers = aws.call(labels_event())

    assert (status, body["error"]["code"], body["error"]["model_status"]) == (
        503,
        "model_not_running",
        "UNKNOWN",
    )
    assert "Retry-After" in headers


def test_model_starting_answer_names_the_version_not_its_arn(aws: Aws) -> None:
    _not_ready(aws)
    _described(aws, "STOPPED")
    aws.rekognition.add_response("start_project_version", {"Status": "STARTING"})
    aws.dynamodb.add_response("update_item", {})  # start_requested_at: its latency is measured

    status, body, _ = aws.call(labels_event())

    assert (status, body["error"]["code"]) == (503, "model_starting")
    assert body["error"]["model_version"] == "qr-v1"
    assert "project_version_arn" not in body["error"]


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("DetectCustomLabels", ReadTimeoutError(endpoint_url="https://rekognition")),
        ("DetectCustomLabels", ConnectTimeoutError(endpoint_url="https://rekognition")),
        ("DetectCustomLabels", EndpointConnectionError(endpoint_url="https://rekognition")),
    ],
    ids=["read-timeout", "connect-timeout", "no-connection"],
)
def test_rekognition_transport_errors_are_503_after_the_retry_budget(
    aws: Aws, operation: str, error: Exception
) -> None:
    aws.pointer()
    rekognition = aws.without_stubber("rekognition")
    attempts = transport_error(rekognition, operation, error)

    status, body, _ = aws.call(labels_event())

    assert (status, body["error"]["code"]) == (503, "upstream_unavailable")
    assert len(attempts) == calls.BUDGETS["rekognition"].max_attempts


def test_dynamodb_connect_timeout_is_503(aws: Aws) -> None:
    dynamodb = aws.without_stubber("dynamodb")
    attempts = transport_error(
        dynamodb, "GetItem", ConnectTimeoutError(endpoint_url="https://dynamodb")
    )

    status, body, _ = aws.call(labels_event())

    assert (status, body["error"]["code"]) == (503, "upstream_unavailable")
    assert len(attempts) == 2


def test_no_credentials_to_sign_an_upload_is_502(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_credentials(*_: Any, **__: Any) -> str:
        raise NoCredentialsError()

    monkeypatch.setattr(aws.clients.s3, "generate_presigned_url", no_credentials)

    status, body, _ = aws.call(
        rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": 10})
    )

    assert (status, body["error"]["code"]) == (502, "upstream_error")


# --- 2. a missing or expired upload is a 404 -------------------------------------


def test_missing_upload_as_aws_answers_it_without_list_bucket_is_404(aws: Aws) -> None:
    """HeadObject on a missing key, for a role without s3:ListBucket: an empty-bodied 403."""
    key = f"users/{USER}/expired.jpg"
    s3 = aws.without_stubber("s3")
    attempts = http_answer(s3, "HeadObject", 403)

    status, body, _ = aws.call(labels_event(s3_key=key))

    assert (status, body["error"]["code"], body["error"]["field"]) == (
        404,
        "upload_not_found",
        "image.s3_key",
    )
    assert len(attempts) == 1  # a 403 is not retried


def test_missing_upload_stubbed_as_botocore_raises_it_is_404(aws: Aws) -> None:
    aws.s3.add_client_error("head_object", "403", "Forbidden", 403)

    status, body, _ = aws.call(labels_event(s3_key=f"users/{USER}/gone.jpg"))

    assert (status, body["error"]["code"]) == (404, "upload_not_found")


def test_s3_unavailable_on_head_is_503(aws: Aws) -> None:
    s3 = aws.without_stubber("s3")
    attempts = http_answer(s3, "HeadObject", 503)

    status, body, _ = aws.call(labels_event(s3_key=f"users/{USER}/a.jpg"))

    assert (status, body["error"]["code"]) == (503, "upstream_unavailable")
    assert len(attempts) == calls.BUDGETS["s3"].max_attempts


@pytest.mark.parametrize("key_suffix", ["é" * 510, "a" * 1020], ids=["multibyte", "ascii"])
def test_key_over_s3s_1024_bytes_is_400_naming_the_field(aws: Aws, key_suffix: str) -> None:
    key = f"users/{USER}/{key_suffix}"

    status, body, _ = aws.call(labels_event(s3_key=key))

    assert (status, body["error"]["code"], body["error"]["field"]) == (
        400,
        "invalid_request",
        "image.s3_key",
    )
    assert "1024 bytes" in body["error"]["message"]


# --- 3. malformed JSON never reaches a 500 ---------------------------------------


def _raw(body: str | None, **extra: Any) -> dict[str, Any]:
    event = rest_event("POST", "/v1/labels", raw_body=body if body is not None else "")
    if body is None:
        event["body"] = None
    event.update(extra)
    return event


MALFORMED = [
    ("deep-nesting", _raw('{"image": ' + "[" * 100_000 + "]" * 100_000 + "}"), "invalid_json", "body"),
    ("deep-nesting-unclosed", _raw("[" * 1_000_000), "invalid_json", "body"),
    ("huge-integer", rest_event("POST", "/v1/uploads", raw_body='{"content_type": "image/png", "content_length": 1' + "0" * 5000 + "}"), "invalid_json", "body"),
    ("big-integer", rest_event("POST", "/v1/uploads", raw_body='{"content_type": "image/png", "content_length": 1' + "0" * 30 + "}"), "invalid_request", "content_length"),
    ("huge-exponent", _raw('{"image": {"bytes": "AA=="}, "min_confidence": 1e999999}'), "invalid_request", "min_confidence"),
    ("invalid-utf8", _raw(base64.b64encode(b'{"image": {"s3_key": "\xff\xfe"}}').decode(), isBase64Encoded=True), "invalid_json", "body"),
    ("invalid-base64-transport", _raw("not base64 at all!", isBase64Encoded=True), "invalid_json", "body"),
    ("boolean-as-integer", rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": True}), "invalid_request", "content_length"),
    ("string-as-integer", rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": "12"}), "invalid_request", "content_length"),
    ("top-level-array", _raw(json.dumps([{"image": {"bytes": b64(JPEG)}}])), "invalid_request", "body"),
    ("top-level-string", _raw('"hello"'), "invalid_request", "body"),
    ("top-level-number", _raw("42"), "invalid_request", "body"),
    ("top-level-null", _raw("null"), "invalid_request", "body"),
    ("empty-body", _raw(None), "invalid_json", "body"),
    ("lone-surrogate-key", _raw('{"image": {"s3_key": "users/x/\\ud800.jpg"}}'), "invalid_json", "body"),
    ("image-not-an-object", _raw('{"image": "AAAA"}'), "invalid_request", "image"),
    ("trailing-garbage", _raw('{"image": {"bytes": "AA=="}} x'), "invalid_json", "body"),
    ("nan", _raw('{"image": {"bytes": "AA=="}, "min_confidence": NaN}'), "invalid_request", "min_confidence"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "code", "field_name"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_bodies_are_400_with_the_error_shape(
    aws: Aws, event: dict[str, Any], code: str, field_name: str
) -> None:
    status, body, _ = aws.call(event)

    assert (status, body["error"]["code"], body["error"]["field"]) == (400, code, field_name), body


def test_top_level_array_is_not_cut_to_its_first_element(aws: Aws) -> None:
    status, body, _ = aws.call(_raw(json.dumps([{"image": {"bytes": b64(JPEG)}}])))

    assert status == 400
    assert "JSON object" in body["error"]["message"]


def test_unknown_field_names_what_is_allowed(aws: Aws) -> None:
    status, body, _ = aws.call(
        rest_event("POST", "/v1/labels", {"image": {"bytes": "AA==", "url": "x"}})
    )

    assert (status, body["error"]["field"]) == (400, "image.url")
    assert "bytes, s3_key" in body["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "Application/JSON; charset=utf-8",
        "application/json;charset=UTF-8",
        "APPLICATION/JSON",
        'application/json; charset="utf-8"',
    ],
)
def test_media_type_is_case_insensitive(aws: Aws, content_type: str) -> None:
    aws.pointer()
    aws.rekognition.add_response("detect_custom_labels", {"CustomLabels": []})
    aws.dynamodb.add_response("update_item", {})

    status, _, _ = aws.call(
        rest_event("POST", "/v1/labels", {"image": {"bytes": b64(JPEG)}}, content_type=content_type)
    )

    assert status == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json; charset=latin-1", "application/jsonx", None]
)
def test_other_media_types_are_415_in_the_error_shape(aws: Aws, content_type: str | None) -> None:
    status, body, _ = aws.call(
        rest_event("POST", "/v1/labels", {"image": {"bytes": "AA=="}}, content_type=content_type)
    )

    assert (status, body["error"]["code"], body["error"]["field"]) == (
        415,
        "unsupported_media_type",
        "Content-Type",
    )


def test_json_sent_base64_encoded_by_api_gateway_is_read(aws: Aws) -> None:
    aws.pointer()
    aws.rekognition.add_response("detect_custom_labels", {"CustomLabels": []})
    aws.dynamodb.add_response("update_item", {})
    text = json.dumps({"image": {"bytes": b64(JPEG)}})

    status, _, _ = aws.call(_raw(base64.b64encode(text.encode()).decode(), isBase64Encoded=True))

    assert status == 200


@pytest.mark.parametrize(
    ("encoded", "accepted"),
    [
        (base64.encodebytes(JPEG).decode(), True),  # MIME: a line break every 76 characters
        (base64.encodebytes(JPEG).decode().replace("\n", "\r\n"), True),
        ("data:image/jpeg;base64," + b64(JPEG), False),
        (base64.urlsafe_b64encode(JPEG).decode(), False),
    ],
    ids=["line-wrapped", "crlf-wrapped", "data-url", "url-safe"],
)
def test_line_wrapped_base64_is_accepted_other_variants_are_named(
    aws: Aws, encoded: str, accepted: bool
) -> None:
    if accepted:
        aws.pointer()
        aws.rekognition.add_response(
            "detect_custom_labels",
            {"CustomLabels": []},
            {"ProjectVersionArn": VERSION, "Image": {"Bytes": JPEG}},
        )
        aws.dynamodb.add_response("update_item", {})

    status, body, _ = aws.call(labels_event(bytes=encoded))

    if accepted:
        assert status == 200
    else:
        assert (status, body["error"]["code"], body["error"]["field"]) == (
            400,
            "invalid_base64",
            "image.bytes",
        )
        assert ("data:" in body["error"]["message"]) == encoded.startswith("data:")


# --- 4. nothing from AWS goes to the client --------------------------------------


@pytest.mark.parametrize(
    "aws_code",
    [
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidParameterException",
        "InvalidS3ObjectException",
        "AccessDeniedException",
        "ValidationException",
    ],
)
def test_rekognition_messages_stay_in_the_log(
    aws: Aws, aws_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    aws.pointer()
    aws.rekognition.add_client_error("detect_custom_labels", aws_code, AWS_MESSAGE, 400)

    status, body, _ = aws.call(labels_event())

    assert 400 <= status < 600
    assert status != 500
    assert AWS_MESSAGE not in json.dumps(body)
    assert AWS_MESSAGE in logged(caplog)


# --- 5. CORS on every answer to an allowed origin --------------------------------

ORIGIN = "https://app.example.com"


@pytest.fixture
def cors(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("ALLOWED_ORIGINS", f"{ORIGIN},http://localhost:5173")
    reload_handler()
    monkeypatch.setattr(handler, "settings", lambda: SETTINGS)
    monkeypatch.setattr(handler, "clients", lambda: aws.clients)
    yield aws
    monkeypatch.delenv("ALLOWED_ORIGINS")
    reload_handler()


def _from(origin: str, event: dict[str, Any]) -> dict[str, Any]:
    event["headers"]["Origin"] = origin
    event["multiValueHeaders"]["Origin"] = [origin]
    return event


def test_cors_headers_on_errors_of_every_kind(cors: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    cors.pointer()
    cors.rekognition.add_client_error(
        "detect_custom_labels", "ThrottlingException", AWS_MESSAGE, 400
    )
    cors.rekognition.add_client_error(
        "detect_custom_labels", "AccessDeniedException", AWS_MESSAGE, 400
    )
    cases = {
        415: rest_event("POST", "/v1/labels", {}, content_type="text/plain"),
        400: _raw("[1]"),
        404: rest_event("POST", "/v1/nothing", {}),
        401: rest_event("POST", "/v1/labels", {"image": {"bytes": b64(JPEG)}}, user=None),
        429: labels_event(),
        502: labels_event(),
    }
    for expected, event in cases.items():
        status, _, headers = cors.call(_from(ORIGIN, event))
        assert status == expected
        assert headers.get("Access-Control-Allow-Origin") == ORIGIN, (status, headers)
        assert headers.get("Access-Control-Expose-Headers") == "Retry-After"


def test_cors_headers_on_a_500_inside_and_outside_the_resolver(
    cors: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(images, "presign_upload", boom)
    upload = rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": 10})
    status, body, headers = cors.call(_from(ORIGIN, upload))
    assert (status, headers["Access-Control-Allow-Origin"]) == (500, ORIGIN)
    assert "secret" not in json.dumps(body)

    monkeypatch.setattr(handler.app, "resolve", boom)
    status, body, headers = cors.call(_from("http://localhost:5173", upload))
    assert (status, body["error"]["code"]) == (500, "internal_error")
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_no_cors_headers_for_other_origins(cors: Aws) -> None:
    status, _, headers = cors.call(
        _from(
            "https://evil.example.net",
            rest_event("POST", "/v1/labels", {}, content_type="text/plain"),
        )
    )

    assert status == 415
    assert "Access-Control-Allow-Origin" not in headers


# --- 6. timeouts that fit the function -------------------------------------------


def test_a_call_that_could_outlive_the_invocation_is_not_started(aws: Aws) -> None:
    aws.pointer()
    almost_out = LambdaContext(remaining_ms=int((calls.RESERVE_SECONDS + 10) * 1000))

    status, body, _ = aws.call(labels_event(), almost_out)

    # The pointer read (8 s worst case) fitted; DetectCustomLabels (16 s) did not and never ran.
    assert (status, body["error"]["code"]) == (503, "upstream_unavailable")


def test_every_client_has_timeouts_and_a_bounded_retry_budget(aws: Aws) -> None:
    for name, budget in calls.BUDGETS.items():
        config = getattr(aws.clients, name).meta.config
        assert (config.connect_timeout, config.read_timeout) == (
            budget.connect_timeout,
            budget.read_timeout,
        ), name
        assert config.retries == {"mode": "standard", "total_max_attempts": budget.max_attempts}, (
            name
        )
        assert budget.worst_case_seconds + calls.RESERVE_SECONDS < 28, name


# --- 7. traces hold no secrets ---------------------------------------------------


class RecordingSubsegment:
    def __init__(self, sink: list[tuple[str, Any]]) -> None:
        self.sink = sink

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.sink.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.sink.append((key, value))

    def add_exception(self, *_: Any, **__: Any) -> None:
        return


class RecordingProvider:
    """Plays the X-Ray SDK for Powertools' Tracer and keeps everything put into a trace."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, Any]] = []

    def in_subsegment(self, name: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def subsegment() -> Iterator[RecordingSubsegment]:
            yield RecordingSubsegment(self.recorded)

        return subsegment()


def test_traces_hold_no_presigned_url_and_no_face_attributes(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(handler.tracer, "provider", provider)
    aws.rekognition.add_response(
        "detect_faces",
        {
            "FaceDetails": [
                {
                    "AgeRange": {"Low": 25, "High": 32},
                    "Emotions": [{"Type": "HAPPY", "Confidence": 90.0}],
                }
            ]
        },
    )

    upload, answer, _ = aws.call(
        rest_event("POST", "/v1/uploads", {"content_type": "image/png", "content_length": 10})
    )
    faces, _, _ = aws.call(rest_event("POST", "/v1/faces/analyze", {"image": {"bytes": b64(JPEG)}}))

    assert (upload, faces) == (200, 200)
    assert provider.recorded, "the recording provider saw the traced calls"
    traced = json.dumps(provider.recorded, default=str)
    assert "X-Amz-Signature" not in traced
    assert answer["url"] not in traced
    assert "HAPPY" not in traced
    assert "AgeRange" not in traced
    assert "age_range" not in traced


def test_the_recording_provider_would_catch_a_captured_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above can fail: with response capture on, the URL lands in the trace."""
    provider = RecordingProvider()
    monkeypatch.setattr(handler.tracer, "provider", provider)

    @handler.tracer.capture_method(capture_response=True)
    def leaky() -> dict[str, str]:
        return {"url": "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc"}

    leaky()

    assert "X-Amz-Signature" in json.dumps(provider.recorded)
