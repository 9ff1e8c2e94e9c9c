"""``<Stage>-Data``: the stateful stack.

Holds everything that keeps data: buckets, tables, the Rekognition project
and collection, and the Cognito user pool. Stateless stacks receive these
through typed constructor arguments (:class:`DataStack` attributes), never by
hand-built export names.

When the stage retains data (prod), every resource here is RETAINed on
delete and the stack has termination protection; otherwise (dev) they are
destroyed and the buckets emptied on delete.

Logical ids of resources in this stack must never change once released:
renaming a construct here replaces a bucket or table.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, CfnRule, CfnRuleAssertion, Fn, Stack
from constructs import Construct
from shared.embeddings import MODELS

from stacks.config import CUSTOM_LABELS_REGIONS, StageConfig
from stacks.data.identity import Identity
from stacks.data.recognition import Recognition
from stacks.data.storage import Storage
from stacks.data.tables import Tables
from stacks.data.vectors import PhotoIndex


class DataStack(Stack):
    """Stateful resources of one stage.

    :ivar storage: the buckets (:class:`stacks.data.storage.Storage`).
    :ivar tables: the DynamoDB tables (:class:`stacks.data.tables.Tables`).
    :ivar recognition: project and collection (:class:`stacks.data.recognition.Recognition`).
    :ivar identity: user pool and app client (:class:`stacks.data.identity.Identity`).
    :ivar photo_index: the labelled photos' vector index
        (:class:`stacks.data.vectors.PhotoIndex`), or None without ``provisional.enabled``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            termination_protection=config.retain_data,
            description=(
                f"Phone image recognition, stage {config.name}: stateful resources "
                "(buckets, tables, Rekognition project and collection, user pool)"
            ),
            **kwargs,
        )
        name_prefix = f"imgrec-{config.name}"
        self.storage = Storage(
            self,
            "Storage",
            retain_data=config.retain_data,
            upload_retention_days=config.upload_retention_days,
            access_log_retention_days=max(config.log_retention_days, 90),
        )
        self.tables = Tables(self, "Tables", retain_data=config.retain_data)
        self.recognition = Recognition(
            self, "Recognition", name_prefix=name_prefix, retain_data=config.retain_data
        )
        self.identity = Identity(
            self,
            "Identity",
            name_prefix=name_prefix,
            retain_data=config.retain_data,
            self_sign_up_enabled=config.self_sign_up_enabled,
            callback_urls=[f"{origin}/" for origin in config.allowed_web_origins],
        )
        self.photo_index = (
            PhotoIndex(
                self,
                "PhotoIndex",
                model=MODELS[config.provisional.embedding_model],
                retain_data=config.retain_data,
            )
            if config.provisional.enabled
            else None
        )
        self._region_rule(config)
        self._outputs()

    def _region_rule(self, config: StageConfig) -> None:
        """Deploying to a Region without Custom Labels (or without the stage's embedding
        model) fails at once, naming the ones with it (synth already refuses a stage pinned
        there; an environment-agnostic stage learns its Region only at deploy)."""
        if config.provisional.enabled:
            model = MODELS[config.provisional.embedding_model]
            CfnRule(
                self,
                "EmbeddingModelRegion",
                assertions=[
                    CfnRuleAssertion(
                        assert_=Fn.condition_contains(list(model.regions), Aws.REGION),
                        assert_description=f"{model.model_id} (provisional.embedding_model) "
                        "is not offered in this Region; deploy to one of "
                        + ", ".join(model.regions)
                        + " or set provisional.enabled: false",
                    )
                ],
            )
        CfnRule(
            self,
            "CustomLabelsRegion",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_contains(list(CUSTOM_LABELS_REGIONS), Aws.REGION),
                    assert_description="Rekognition Custom Labels is not available in this "
                    "Region; deploy to one of " + ", ".join(CUSTOM_LABELS_REGIONS),
                )
            ],
        )

    def _outputs(self) -> None:
        """Stack outputs read by people and by the project's command-line tools."""
        outputs = {
            "TrainingBucketName": (
                self.storage.training.bucket_name,
                "Training images, one folder per label; Rekognition may read it",
            ),
            "UploadsBucketName": (self.storage.uploads.bucket_name, "Phone photo uploads"),
            "ArchiveBucketName": (
                self.storage.archive.bucket_name,
                "Device log and telemetry archive",
            ),
            "AccessLogsBucketName": (
                self.storage.access_logs.bucket_name,
                "S3 server access logs of the other buckets",
            ),
            "DeviceEventsTableName": (
                self.tables.device_events.table_name,
                "Device events (device_id, timestamp)",
            ),
            "ModelUsageTableName": (
                self.tables.model_usage.table_name,
                "Per model version usage, read by the cost guard",
            ),
            "FacesTableName": (self.tables.faces.table_name, "Face id -> person"),
            "FeedbackTableName": (
                self.tables.feedback.table_name,
                "Feedback and the review queue (tools.models index reads confirmed items)",
            ),
            "ProjectArn": (self.recognition.project_arn, "Custom Labels project ARN"),
            "CollectionId": (
                self.recognition.collection.collection_id,
                "Rekognition face collection id",
            ),
            "UserPoolId": (self.identity.user_pool.user_pool_id, "Cognito user pool id"),
            "UserPoolClientId": (
                self.identity.app_client.user_pool_client_id,
                "Cognito app client id for the phone",
            ),
        }
        if self.photo_index is not None:
            outputs["PhotoIndexArn"] = (
                self.photo_index.index_arn,
                "S3 Vectors index of the labelled photos (tools.models index fills it)",
            )
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
