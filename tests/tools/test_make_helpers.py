"""Helpers behind make targets: the credentials check of diff/deploy, the bench's Chromium check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import aws as aws_credentials
from tools.bench import page as bench_page


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A shell with no AWS credentials anywhere (and no instance metadata to ask)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_no_credentials_says_how_to_provide_them_once(
    no_aws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert aws_credentials.main() == 2

    err = capsys.readouterr().err
    assert err.count("No AWS credentials found") == 1
    assert "aws sso login" in err
    assert "AWS_PROFILE" in err


def test_unknown_profile_is_named(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "imgrec-dev")

    message = aws_credentials.problem()

    assert message is not None
    assert "AWS_PROFILE=imgrec-dev names no profile" in message


def test_sso_profile_without_a_login_says_aws_sso_login(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_aws / "config").write_text(
        "[profile imgrec-dev]\n"
        "sso_session = team\n"
        "sso_account_id = 123456789012\n"
        "sso_role_name = Developer\n"
        "region = ap-northeast-1\n"
        "[sso-session team]\n"
        "sso_start_url = https://example.awsapps.com/start\n"
        "sso_region = ap-northeast-1\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "imgrec-dev")

    message = aws_credentials.problem()

    assert message is not None
    assert "aws sso login --profile imgrec-dev" in message


def test_keys_in_the_environment_pass(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")

    assert aws_credentials.problem() is None


def test_page_bench_without_chromium_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_page, "find_chromium", lambda: None)

    assert bench_page.main() == 2

    err = capsys.readouterr().err
    assert "apt-get install chromium" in err
    assert "Traceback" not in err


def test_integ_results_pass_only_on_the_providers_success_json() -> None:
    from tools import integ

    outputs = {
        "PhoneApiDefaultTestDeployAssertEAFA7AF6": {
            "AssertionResultsLambdaInvokeA": '{"status":"success"}',
            "AssertionResultsLambdaInvokeB": '{"status":"fail","message":"Expected 409 got 500"}',
            "AssertionResultsHttpApiCallC": "not json",
            "SomethingElse": "ignored",
        }
    }

    results = integ.assertion_results(outputs)

    assert {name.rsplit(".", 1)[1]: passed for name, (passed, _) in results.items()} == {
        "AssertionResultsLambdaInvokeA": True,
        "AssertionResultsLambdaInvokeB": False,
        "AssertionResultsHttpApiCallC": False,
    }
    assert "Expected 409 got 500" in {message for _, message in results.values()}


def test_integ_without_credentials_deploys_nothing(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools import integ

    ran: list[tuple[str, ...]] = []

    def cdk(*args: str) -> int:
        ran.append(args)
        return 0

    monkeypatch.setattr(integ, "_cdk", cdk)

    assert integ.main([]) == 2
    assert ran == []
    assert "aws sso login" in capsys.readouterr().err


def test_integ_reports_a_failed_assertion_and_still_destroys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools import aws as aws_credentials
    from tools import integ

    monkeypatch.setattr(aws_credentials, "problem", lambda: None)
    monkeypatch.setattr(integ, "OUTDIR", tmp_path)
    ran: list[str] = []

    def cdk(*args: str) -> int:
        ran.append(args[0])
        if args[0] == "deploy":
            (tmp_path / "outputs.json").write_text(
                json.dumps({"Assert": {"AssertionResultsX": '{"status":"fail","message":"no"}'}})
            )
        return 0

    monkeypatch.setattr(integ, "_cdk", cdk)

    assert integ.main([]) == 1
    assert ran == ["deploy", "destroy"]
    assert "FAIL  Assert.AssertionResultsX  no" in capsys.readouterr().out
