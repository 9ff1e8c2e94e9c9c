"""``<Stage>-Service``: the stateless stack.

Holds what can be destroyed and redeployed at any time: the cost guard and
the inference API; IoT rules and analytics join it. Receives the
stateful resources as a typed :class:`stacks.data_stack.DataStack`.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import StageConfig
from stacks.cost_guard import CostGuard
from stacks.data_stack import DataStack
from stacks.inference_api import InferenceApi


class ServiceStack(Stack):
    """Stateless resources of one stage.

    :ivar cost_guard: the scheduled model stopper (:class:`stacks.cost_guard.CostGuard`).
    :ivar inference_api: the phone API (:class:`stacks.inference_api.InferenceApi`).
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
        self.inference_api = InferenceApi(
            self,
            "InferenceApi",
            config=config,
            recognition=data.recognition,
            model_usage=data.tables.model_usage,
            faces=data.tables.faces,
            uploads=data.storage.uploads,
            user_pool=data.identity.user_pool,
        )
        CfnOutput(
            self,
            "ApiUrl",
            value=self.inference_api.api.url_for_path("/v1"),
            description="Base URL of the phone API (routes under /v1)",
        )
        CfnOutput(
            self,
            "CostGuardTopicArn",
            value=self.cost_guard.topic.topic_arn,
            description="SNS topic with cost guard actions and alarms",
        )
