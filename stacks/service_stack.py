"""``<Stage>-Service``: the stateless stack.

Holds what can be destroyed and redeployed at any time: today the cost
guard; the inference API, IoT rules and analytics join it. Receives the
stateful resources as a typed :class:`stacks.data_stack.DataStack`.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import StageConfig
from stacks.cost_guard import CostGuard
from stacks.data_stack import DataStack


class ServiceStack(Stack):
    """Stateless resources of one stage.

    :ivar cost_guard: the scheduled model stopper (:class:`stacks.cost_guard.CostGuard`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Phone image recognition, stage {config.name}: stateless services",
            **kwargs,
        )
        self.cost_guard = CostGuard(
            self,
            "CostGuard",
            config=config,
            recognition=data.recognition,
            model_usage=data.tables.model_usage,
        )
        CfnOutput(
            self,
            "CostGuardTopicArn",
            value=self.cost_guard.topic.topic_arn,
            description="SNS topic with cost guard actions and alarms",
        )
