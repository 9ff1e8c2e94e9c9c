"""Tables: the project's DynamoDB tables.

Creates four on-demand tables with point-in-time recovery (and deletion
protection when the stage retains data):

* ``device_events``: one item per device message. Partition ``device_id``
  (S, the IoT thing name), sort ``timestamp`` (N, epoch milliseconds from
  the topic rule's ``timestamp()``), TTL attribute ``expires_at`` (epoch
  seconds). TTL only tidies old items: DynamoDB deletes them "typically
  within a few days" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html),
  so nothing may use it as a timer.
* ``model_usage``: one item per Custom Labels project version. Partition
  ``project_version_arn`` (S); attributes ``last_inference_at`` (epoch
  seconds, written by the inference API at most once a minute),
  ``running_since`` (epoch seconds) and ``running_minutes_today`` (N), read
  by the cost guard.
* ``feedback``: one item per photo said to be mislabelled or queued for
  review (``inference_api.feedback`` documents the item). Partition
  ``feedback_id`` (S); global secondary index :data:`FEEDBACK_BY_STATUS_INDEX`
  on ``status`` (S) then ``created_at`` (S, ISO 8601), for the review queue
  and the retraining workflow.
* ``faces``: one item per indexed face. Partition ``face_id`` (S, the
  Rekognition FaceId); global secondary index :data:`FACES_BY_PERSON_INDEX`
  on ``person_id`` (S) then ``face_id``, to list or remove one person's faces.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from shared.layout import FACES_BY_PERSON_INDEX, FEEDBACK_BY_STATUS_INDEX


class Tables(Construct):
    """The project's DynamoDB tables.

    :ivar device_events: device events and telemetry.
    :ivar model_usage: per model version usage, for the cost guard.
    :ivar faces: face id -> person.
    :ivar feedback: feedback and the review queue.
    """

    def __init__(self, scope: Construct, construct_id: str, *, retain_data: bool) -> None:
        super().__init__(scope, construct_id)
        self._retain = retain_data

        self.device_events = self._table(
            "DeviceEvents",
            partition=("device_id", dynamodb.AttributeType.STRING),
            sort=("timestamp", dynamodb.AttributeType.NUMBER),
            time_to_live_attribute="expires_at",
        )
        self.model_usage = self._table(
            "ModelUsage",
            partition=("project_version_arn", dynamodb.AttributeType.STRING),
        )
        self.faces = self._table(
            "Faces",
            partition=("face_id", dynamodb.AttributeType.STRING),
        )
        self.feedback = self._table(
            "Feedback", partition=("feedback_id", dynamodb.AttributeType.STRING)
        )
        self.feedback.add_global_secondary_index(
            index_name=FEEDBACK_BY_STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.faces.add_global_secondary_index(
            index_name=FACES_BY_PERSON_INDEX,
            partition_key=dynamodb.Attribute(name="person_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="face_id", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    def _table(
        self,
        construct_id: str,
        *,
        partition: tuple[str, dynamodb.AttributeType],
        sort: tuple[str, dynamodb.AttributeType] | None = None,
        time_to_live_attribute: str | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition[0], type=partition[1]),
            sort_key=dynamodb.Attribute(name=sort[0], type=sort[1]) if sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=self._retain,
            time_to_live_attribute=time_to_live_attribute,
            removal_policy=RemovalPolicy.RETAIN if self._retain else RemovalPolicy.DESTROY,
        )
