"""What every tool shares about AWS: its error, a stage's stack outputs, the credentials check.

* :class:`ToolError`: a failure with what went wrong and what to do (the CLIs
  print it and exit 1);
* :func:`stack_outputs`: a deployed stage's ``<Stage>-Data`` or ``-Service`` outputs;
* :func:`problem` / ``python -m tools.aws``: say once which AWS credentials are missing.

Run by ``make diff`` and ``make deploy``. Without credentials the CDK CLI
fails per stack with SDK messages that do not say what to do. This check
resolves credentials the way the CLI and boto3 do (environment,
``AWS_PROFILE`` and its SSO session, shared files, container or instance
roles), locally, without calling AWS, and exits 2 with one message naming
what is missing and the commands that fix it: ``aws sso login`` and
``AWS_PROFILE``, or access keys in the environment. Exit 0 when
credentials resolve.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound


class ToolError(RuntimeError):
    """A failure with what went wrong and what to do; the CLI prints it and exits 1."""


def stack_outputs(cloudformation: Any, stage: str, kind: str) -> dict[str, str]:
    """The outputs of the stage's ``<Stage>-<kind>`` stack (``Data`` or ``Service``).

    :raises ToolError: when the stack does not exist (stage not deployed).
    """
    stack = f"{stage[:1].upper()}{stage[1:]}-{kind}"
    try:
        [description] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            raise ToolError(
                f"stage {stage!r} is not deployed here (no stack {stack} in this account and "
                f"region); deploy it with 'make deploy STAGE={stage}' or set AWS_REGION"
            ) from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def report(run: Callable[[], int], tool_errors: tuple[type[Exception], ...] = ()) -> int:
    """``run()``, its exit code; a tool's or AWS's failure printed as one ``error:`` line on
    standard error (what went wrong and what to do), and 1.

    :param tool_errors: the tool's own error types besides :class:`ToolError`.
    """
    known: tuple[type[Exception], ...] = (ToolError, *tool_errors)
    try:
        return run()
    except known as exc:
        print(f"error: {exc}", file=sys.stderr)
    except ProfileNotFound as exc:
        print(f"error: {exc}; see 'aws configure list-profiles'", file=sys.stderr)
    except NoCredentialsError:
        print(
            "error: no AWS credentials found; run 'aws sso login' or set AWS_PROFILE",
            file=sys.stderr,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"error: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
    except BotoCoreError as exc:
        print(f"error: AWS call failed: {exc}", file=sys.stderr)
    return 1


HOW = (
    "Provide credentials in one of these ways:\n"
    "  aws sso login --profile NAME && export AWS_PROFILE=NAME   (IAM Identity Center)\n"
    "  export AWS_PROFILE=NAME                                   (a profile in ~/.aws/config)\n"
    "  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...    (and AWS_SESSION_TOKEN)\n"
    "then run the make target again."
)


def problem(session_factory: Any = boto3.Session) -> str | None:
    """What is wrong with this shell's AWS credentials, or None when they resolve."""
    profile = os.environ.get("AWS_PROFILE")
    try:
        session = session_factory()
        credentials = session.get_credentials()
        if credentials is None:
            where = f"profile {profile!r}" if profile else "the environment or a default profile"
            return f"No AWS credentials found in {where}.\n{HOW}"
        credentials.get_frozen_credentials()  # SSO and assume-role profiles resolve here
    except ProfileNotFound:
        return f"AWS_PROFILE={profile} names no profile in ~/.aws/config.\n{HOW}"
    except BotoCoreError as exc:  # expired SSO token, unreadable SSO cache, role refused
        name = type(exc).__name__
        if "SSO" in name or "Token" in name:
            login = f"aws sso login --profile {profile}" if profile else "aws sso login"
            return f"The AWS SSO session has expired or is missing ({name}): run {login}"
        return f"AWS credentials could not be loaded ({name}: {exc}).\n{HOW}"
    return None


def main() -> int:
    message = problem()
    if message is None:
        return 0
    print(message, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
