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
