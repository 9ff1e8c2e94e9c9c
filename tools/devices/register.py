"""``python -m tools.devices register NAME``: a new IoT thing with its own certificate.

Creates the thing, adds it to the stage's thing group, creates a certificate
and key (active), attaches the stage's device policy to the certificate and
the certificate to the thing, and saves::

    <out>/<NAME>/certificate.pem.crt   (0644)
    <out>/<NAME>/private.pem.key       (0600: only you can read it)
    <out>/<NAME>/device.json           thing name, endpoint, topics

It prints the endpoint to connect to (``iot:Data-ATS``) and the topics the
device may use (``devices/<NAME>/...``). The policy and group come from the
stage's ``<Stage>-Service`` stack outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tools.aws import ToolError, stack_outputs

THING_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
"""Thing names: https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThing.html"""
DEFAULT_OUT = Path.home() / ".imgrec" / "devices"


@dataclass(frozen=True)
class Registration:
    thing_name: str
    certificate_arn: str
    endpoint: str
    directory: Path


def register(iot: Any, cloudformation: Any, stage: str, name: str, out: Path) -> Registration:
    """Create and wire up a thing; save its credentials under ``out/name``.

    :raises ToolError: bad name, stage not deployed, thing already exists.
    """
    if not THING_NAME.match(name):
        raise ToolError(
            f"thing name {name!r} is not allowed: use 1-128 of letters, digits, ':', '_' or '-'"
        )
    outputs = stack_outputs(cloudformation, stage, "Service")
    directory = out / name
    if directory.exists():
        raise ToolError(f"{directory} already exists; remove it or choose another name")
    # CreateThing succeeds for an existing thing of the same configuration, so ask first:
    # registering twice would give one thing two live certificates.
    try:
        iot.describe_thing(thingName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    else:
        raise ToolError(f"thing {name!r} already exists in this account and region")
    iot.create_thing(thingName=name)
    iot.add_thing_to_thing_group(thingGroupName=outputs["ThingGroupName"], thingName=name)
    keys = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName=outputs["DevicePolicyName"], target=keys["certificateArn"])
    iot.attach_thing_principal(thingName=name, principal=keys["certificateArn"])
    endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]

    directory.mkdir(parents=True, mode=0o700)
    os.chmod(directory, 0o700)
    (directory / "certificate.pem.crt").write_text(keys["certificatePem"])
    key_path = directory / "private.pem.key"
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(keys["keyPair"]["PrivateKey"])
    (directory / "device.json").write_text(
        json.dumps(
            {
                "thing_name": name,
                "stage": stage,
                "endpoint": endpoint,
                "port": 8883,
                "certificate": "certificate.pem.crt",
                "private_key": "private.pem.key",
                "topics": {
                    "events": f"devices/{name}/events",
                    "telemetry": f"devices/{name}/telemetry",
                },
            },
            indent=2,
        )
        + "\n"
    )
    return Registration(name, keys["certificateArn"], endpoint, directory)


def main(argv: Sequence[str] | None = None, session: Any = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.devices", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--region")
    commands = parser.add_subparsers(dest="command", required=True)
    reg = commands.add_parser("register", help="create a thing, certificate and key")
    reg.add_argument("name", help="thing name (also the MQTT client id)")
    reg.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to save (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    session = session or boto3.Session(region_name=args.region)
    try:
        result = register(
            session.client("iot"), session.client("cloudformation"), args.stage, args.name, args.out
        )
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print(
            "error: no AWS credentials found; run 'aws sso login' or set AWS_PROFILE",
            file=sys.stderr,
        )
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"error: AWS refused the registration: {exc}", file=sys.stderr)
        return 1
    print(f"registered {result.thing_name}; credentials in {result.directory}")
    print(f"endpoint: {result.endpoint} (port 8883, MQTT over TLS)")
    print(
        f"publish to devices/{result.thing_name}/events and devices/{result.thing_name}/telemetry"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
