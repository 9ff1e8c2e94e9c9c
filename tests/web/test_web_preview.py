"""tools.web_preview: config.json of a deployed stage, and the offline server's contract."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tools import web_preview
from tools.web_preview import PreviewError, PreviewServer, stage_config


def _stack(name: str, outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": name,
                "CreationTime": "2026-11-01T00:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def test_stage_config_comes_from_the_three_stacks_outputs() -> None:
    cloudformation = boto3.client("cloudformation", region_name="ap-northeast-1")
    with Stubber(cloudformation) as stubber:
        for name, outputs in (
            ("Dev-Data", {"UserPoolId": "ap-northeast-1_Abc", "UploadsBucketName": "up-1"}),
            (
                "Dev-Service",
                {"ApiUrl": "https://x.execute-api.ap-northeast-1.amazonaws.com/dev/v1/"},
            ),
            (
                "Dev-Web",
                {
                    "WebClientId": "client1",
                    "LoginUrl": "https://imgrec-dev-1.auth.ap-northeast-1.amazoncognito.com",
                },
            ),
        ):
            stubber.add_response("describe_stacks", _stack(name, outputs), {"StackName": name})
        config, connect_sources = stage_config("dev", cloudformation)

    assert config == {
        "stage": "dev",
        "region": "ap-northeast-1",
        "apiBase": "https://x.execute-api.ap-northeast-1.amazonaws.com/dev/v1",
        "authority": "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_Abc",
        "clientId": "client1",
        "logoutEndpoint": "https://imgrec-dev-1.auth.ap-northeast-1.amazoncognito.com/logout",
    }
    assert connect_sources == [
        "https://up-1.s3.ap-northeast-1.amazonaws.com",
        "https://up-1.s3.amazonaws.com",
    ]
    with PreviewServer(config=config, connect_sources=connect_sources) as server:
        for origin in (
            "https://x.execute-api.ap-northeast-1.amazonaws.com",
            "https://cognito-idp.ap-northeast-1.amazonaws.com",
            "https://imgrec-dev-1.auth.ap-northeast-1.amazoncognito.com",
            "https://up-1.s3.amazonaws.com",
        ):
            assert origin in server.csp


def test_stage_without_a_web_stack_is_a_clear_error() -> None:
    cloudformation = boto3.client("cloudformation", region_name="ap-northeast-1")
    with Stubber(cloudformation) as stubber:
        stubber.add_response("describe_stacks", _stack("Dev-Data", {"UserPoolId": "p"}))
        stubber.add_response("describe_stacks", _stack("Dev-Service", {"ApiUrl": "https://a/"}))
        stubber.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id Dev-Web does not exist"
        )
        with pytest.raises(PreviewError, match="not deployed"):
            stage_config("dev", cloudformation)


def test_offline_server_sends_the_csp_and_a_labelled_config() -> None:
    with PreviewServer() as server:
        with urllib.request.urlopen(f"{server.origin}/config.json") as response:  # noqa: S310
            config = json.load(response)
            csp = response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(f"{server.origin}/") as response:  # noqa: S310
            assert b'<div id="boxes"' in response.read()

    assert config["offline"] is True
    assert config["authority"] == f"{server.origin}/_offline/cognito"
    assert "default-src 'none'" in csp
    assert "connect-src 'self'" in csp


def test_missing_build_is_reported_not_served(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(web_preview, "DIST", tmp_path)
    assert web_preview.main(["--offline", "--port", "0"]) == 2
    assert "npm run build:web" in capsys.readouterr().err


def _call(server: PreviewServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{server.origin}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "offline", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_offline_feedback_and_review_answer_in_the_apis_contract() -> None:
    """The page's browser tests run against these answers: they must be the API's shapes."""
    from inference_api.schema import ROUTES

    from tests.support.api_events import check_contract

    def checked(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, answer = _call(server, method, path, body)
        check_contract({"httpMethod": method, "path": path}, status, answer)
        return status, answer

    assert {r.path for r in ROUTES} >= {"/v1/feedback", "/v1/review", "/v1/models"}
    with PreviewServer() as server:
        key = f"users/{web_preview.OFFLINE_USER['sub']}/a.jpg"
        server.uploads[key] = b"\xff\xd8photo"
        feedback = {"s3_key": key, "model_version": "v1", "answered": [], "label": "qr_code"}

        assert checked("GET", "/v1/models")[1]["labels"] == web_preview.recorded_labels()
        assert checked("POST", "/v1/feedback", {**feedback, "s3_key": "users/x/a.jpg"})[0] == 403
        assert checked("POST", "/v1/feedback", {**feedback, "label": "new thing"})[0] == 400
        status, sent = checked("POST", "/v1/feedback", feedback)
        assert (status, sent["status"]) == (200, "pending")
        status, queue = checked("GET", "/v1/review")
        assert [item["feedback_id"] for item in queue["items"]] == [sent["feedback_id"]]
        review = {"feedback_id": sent["feedback_id"], "action": "discard"}
        assert checked("POST", "/v1/review", review)[1]["status"] == "discarded"
        assert checked("POST", "/v1/review", review)[0] == 409
        assert checked("GET", "/v1/review")[1]["items"] == []
