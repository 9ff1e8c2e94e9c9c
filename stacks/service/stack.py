"""``<Stage>-Service``: the stateless stack.

Holds what can be destroyed and redeployed at any time: the inference API,
the cost guard, IoT ingestion and analytics. Receives the
stateful resources as a typed :class:`stacks.data.stack.DataStack`.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import StageConfig
from stacks.data.stack import DataStack
from stacks.service.analytics import Analytics
from stacks.service.cost_guard import CostGuard
from stacks.service.inference_api import InferenceApi
from stacks.service.iot_ingestion import IotIngestion
from stacks.service.retraining import Retraining


class ServiceStack(Stack):
    """Stateless resources of one stage.

    :ivar cost_guard: the scheduled model stopper (:class:`stacks.service.cost_guard.CostGuard`).
    :ivar inference_api: the phone API (:class:`stacks.service.inference_api.InferenceApi`).
    :ivar iot: topic rules, Firehose streams, device policy
        (:class:`stacks.service.iot_ingestion.IotIngestion`).
    :ivar retraining: the retraining workflow (:class:`stacks.service.retraining.Retraining`).
    :ivar analytics: Glue/Athena and dashboard (:class:`stacks.service.analytics.Analytics`).
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
            uploads=data.storage.uploads,
            user_pool=data.identity.user_pool,
            training=data.storage.training,
            feedback=data.tables.feedback,
            photo_index=data.photo_index,
        )
        self.retraining = Retraining(
            self,
            "Retraining",
            config=config,
            recognition=data.recognition,
            training=data.storage.training,
            feedback=data.tables.feedback,
            model_usage=data.tables.model_usage,
            topic=self.cost_guard.topic,
            topic_key=self.cost_guard.topic_key,
            photo_index=data.photo_index,
            native_layer=self.inference_api.native_layer,  # Pillow, to shrink big photos
        )
        self.iot = IotIngestion(
            self,
            "IotIngestion",
            stage=config.name,
            device_events=data.tables.device_events,
            archive=data.storage.archive,
            log_retention_days=config.log_retention_days,
        )
        self.analytics = Analytics(
            self,
            "Analytics",
            stage=config.name,
            archive=data.storage.archive,
            api_name=f"imgrec-{config.name}",
            rule_names=[str(rule.rule_name) for rule in self.iot.rules.values()],
            state_machine=self.retraining.state_machine,
        )
        outputs = {
            "DevicePolicyName": (
                str(self.iot.device_policy.policy_name),
                "IoT policy to attach to device certificates",
            ),
            "ThingGroupName": (
                str(self.iot.thing_group.thing_group_name),
                "IoT thing group of the stage's devices",
            ),
            "AthenaWorkGroup": (
                self.analytics.workgroup.name,
                "Athena workgroup for device analytics (and QuickSight)",
            ),
            "ApiUrl": (
                self.inference_api.api.url_for_path("/v1"),
                "Base URL of the phone API (routes under /v1)",
            ),
            "RetrainingStateMachineArn": (
                self.retraining.state_machine.state_machine_arn,
                "Retraining workflow (start with --input '{\"force\": true}' to train now)",
            ),
            "CostGuardTopicArn": (
                self.cost_guard.topic.topic_arn,
                "SNS topic with cost guard actions and alarms",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
