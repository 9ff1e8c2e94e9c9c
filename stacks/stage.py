"""One deployment stage's three stacks, in the app or in a pipeline's ``cdk.Stage``.

``<Stage>-Data`` (stateful), ``<Stage>-Service`` and ``<Stage>-Web``, tagged
with the project and the stage. The stack names are set explicitly, so a
stage deployed by the delivery pipeline (inside a ``cdk.Stage``) keeps the
names a ``cdk deploy`` from a laptop gives it: the two ways deploy the same
stacks, never a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from constructs import Construct

from stacks.config import StageConfig
from stacks.data.stack import DataStack
from stacks.service.stack import ServiceStack
from stacks.web.stack import WebStack

PROJECT_TAG = "phone-image-recognition"


@dataclass(frozen=True)
class StageStacks:
    """A stage's three stacks."""

    data: DataStack
    service: ServiceStack
    web: WebStack


def add_stage_stacks(
    scope: Construct, config: StageConfig, env: cdk.Environment | None = None
) -> StageStacks:
    """Add the stage's three stacks to ``scope`` (an app or a ``cdk.Stage``).

    :param env: the stacks' environment; by default the stage's ``account`` and
        ``region`` when it pins them, else environment-agnostic.
    :returns: the three stacks.
    """
    if env is None and (config.account or config.region):
        env = cdk.Environment(account=config.account, region=config.region)
    prefix = config.stack_prefix
    data = DataStack(scope, f"{prefix}-Data", config=config, env=env, stack_name=f"{prefix}-Data")
    service = ServiceStack(
        scope,
        f"{prefix}-Service",
        config=config,
        data=data,
        env=env,
        stack_name=f"{prefix}-Service",
    )
    web = WebStack(
        scope,
        f"{prefix}-Web",
        config=config,
        data=data,
        service=service,
        env=env,
        stack_name=f"{prefix}-Web",
    )
    for stack in (data, service, web):
        cdk.Tags.of(stack).add("project", PROJECT_TAG)
        cdk.Tags.of(stack).add("stage", config.name)
    return StageStacks(data, service, web)
