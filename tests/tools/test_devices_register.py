"""``tools.devices register`` against moto's IoT and CloudFormation."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.devices import register as devices

REGION = "ap-northeast-1"


class Session:
    def __init__(self, **clients: Any) -> None:
        self._clients = clients

    def client(self, name: str) -> Any:
        return self._clients[name]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        iot = boto3.client("iot", region_name=REGION)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        iot.create_thing_group(thingGroupName="imgrec-dev-devices")
        iot.create_policy(
            policyName="imgrec-dev-device",
            policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                "DevicePolicyName": {"Value": "imgrec-dev-device"},
                "ThingGroupName": {"Value": "imgrec-dev-devices"},
            },
        }
        cloudformation.create_stack(StackName="Dev-Service", TemplateBody=json.dumps(template))
        yield Session(iot=iot, cloudformation=cloudformation)


def test_register_creates_thing_certificate_and_wiring(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = devices.main(["register", "phone-1", "--out", str(tmp_path)], session=session)

    assert code == 0
    iot = session.client("iot")
    [principal] = iot.list_thing_principals(thingName="phone-1")["principals"]
    policies = iot.list_attached_policies(target=principal)["policies"]
    assert [p["policyName"] for p in policies] == ["imgrec-dev-device"]
    things = iot.list_things_in_thing_group(thingGroupName="imgrec-dev-devices")["things"]
    assert things == ["phone-1"]
    directory = tmp_path / "phone-1"
    assert stat.S_IMODE((directory / "private.pem.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert "BEGIN" in (directory / "certificate.pem.crt").read_text()
    config = json.loads((directory / "device.json").read_text())
    assert config["topics"] == {
        "events": "devices/phone-1/events",
        "telemetry": "devices/phone-1/telemetry",
    }
    out = capsys.readouterr().out
    assert f"endpoint: {config['endpoint']}" in out


def test_register_refuses_a_bad_name(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devices.main(["register", "phone 1!", "--out", str(tmp_path)], session=session) == 1

    assert "thing name 'phone 1!' is not allowed" in capsys.readouterr().err


def test_register_refuses_an_existing_thing(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session.client("iot").create_thing(thingName="phone-2")

    assert devices.main(["register", "phone-2", "--out", str(tmp_path)], session=session) == 1

    assert "thing 'phone-2' already exists" in capsys.readouterr().err


def test_register_says_when_the_stage_is_not_deployed(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        devices.main(
            ["--stage", "prod", "register", "phone-3", "--out", str(tmp_path)], session=session
        )
        == 1
    )

    assert "stage 'prod' is not deployed here (no stack Prod-Service in" in capsys.readouterr().err
