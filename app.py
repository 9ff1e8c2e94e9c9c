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

from stacks.checks import guard_rules
from stacks.checks.nag import apply_acknowledgements, register_checks
from stacks.config import ConfigError, load_delivery_config, load_stage_configs
from stacks.data.stack import DataStack
from stacks.delivery import DeliveryStack
from stacks.stage import add_stage_stacks
from stacks.web.site import PageNotBuiltError


def new_app(**props: Any) -> cdk.App:
    """A CDK app with the project's policy validation: AWS Control Tower's Guard rules.

    :param props: further ``cdk.App`` properties (``context``, ``outdir``).
    """
    return cdk.App(policy_validation_beta1=guard_rules.validators(), **props)


def build_app(app: cdk.App, *, acknowledge_nag_findings: bool = True) -> list[DataStack]:
    """Add every selected stage's stacks, the delivery pipeline when configured (and no
    single stage is selected), and the cdk-nag checks to ``app``.

    :param app: the CDK app; its context must hold ``stages`` (and may hold
        ``stage`` to select one).
    :param acknowledge_nag_findings: False only in the tests that prove each
        acknowledgement (cdk-nag's and the Guard rules') still matches a real finding.
    :returns: the stateful stack of each selected stage.
    :raises ConfigError: when the configuration is invalid.
    """
    selected = app.node.try_get_context("stage")
    stages = app.node.try_get_context("stages")
    configs = load_stage_configs(stages, selected)
    stacks = [add_stage_stacks(app, config).data for config in configs]
    delivery = load_delivery_config(
        app.node.try_get_context("delivery"), load_stage_configs(stages)
    )
    if delivery is not None and selected is None:
        DeliveryStack(
            app,
            "Delivery",
            delivery=delivery,
            stages=load_stage_configs(stages),
            env=cdk.Environment(account=delivery.account, region=delivery.region),
        )
    register_checks(app)
    if acknowledge_nag_findings:
        apply_acknowledgements(app)
        apply_acknowledgements(app, guard_rules.GUARD_ACKNOWLEDGEMENTS)
    return stacks


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
