#!/usr/bin/env python3
"""CDK entry point: the only module that reads context or the environment.

``cdk synth`` synthesizes every stage in ``cdk.json``'s ``stages`` context;
``cdk synth -c stage=dev`` synthesizes one. A bad configuration stops synth
with a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

import sys
from typing import Any

import aws_cdk as cdk

from stacks import guard_rules
from stacks.config import ConfigError, StageConfig, load_stage_configs
from stacks.data_stack import DataStack
from stacks.nag import apply_acknowledgements, register_checks
from stacks.service_stack import ServiceStack
from stacks.web import PageNotBuiltError
from stacks.web_stack import WebStack

PROJECT_TAG = "phone-image-recognition"


def new_app(**props: Any) -> cdk.App:
    """A CDK app with the project's policy validation: AWS Control Tower's Guard rules.

    :param props: further ``cdk.App`` properties (``context``, ``outdir``).
    """
    return cdk.App(policy_validation_beta1=guard_rules.validators(), **props)


def build_app(app: cdk.App, *, acknowledge_nag_findings: bool = True) -> list[DataStack]:
    """Add every selected stage's stacks and the cdk-nag checks to ``app``.

    :param app: the CDK app; its context must hold ``stages`` (and may hold
        ``stage`` to select one).
    :param acknowledge_nag_findings: False only in the tests that prove each
        acknowledgement (cdk-nag's and the Guard rules') still matches a real finding.
    :returns: the stateful stack of each selected stage.
    :raises ConfigError: when the configuration is invalid.
    """
    configs = load_stage_configs(
        app.node.try_get_context("stages"), app.node.try_get_context("stage")
    )
    stacks = [_build_stage(app, config) for config in configs]
    register_checks(app)
    if acknowledge_nag_findings:
        apply_acknowledgements(app)
        apply_acknowledgements(app, guard_rules.GUARD_ACKNOWLEDGEMENTS)
    return stacks


def _build_stage(app: cdk.App, config: StageConfig) -> DataStack:
    env = (
        cdk.Environment(account=config.account, region=config.region)
        if config.account or config.region
        else None
    )
    data = DataStack(app, f"{config.stack_prefix}-Data", config=config, env=env)
    service = ServiceStack(app, f"{config.stack_prefix}-Service", config=config, data=data, env=env)
    web = WebStack(
        app, f"{config.stack_prefix}-Web", config=config, data=data, service=service, env=env
    )
    for stack in (data, service, web):
        cdk.Tags.of(stack).add("project", PROJECT_TAG)
        cdk.Tags.of(stack).add("stage", config.name)
    return data


def main() -> None:
    app = new_app()
    try:
        build_app(app)
    except ConfigError as exc:
        sys.stderr.write(f"Invalid stage configuration in cdk.json context:\n{exc}\n")
        raise SystemExit(2) from None
    except PageNotBuiltError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from None
    app.synth()


if __name__ == "__main__":
    main()
