"""IoT ingestion: topic rules that keep every device message, and the device policy.

Topic layout (``{thing}`` is the AWS IoT thing name, which is also the MQTT
client id)::

    devices/{thing}/events      inference results and app logs
    devices/{thing}/telemetry   sensor readings

Each kind has one topic rule (AWS IoT SQL 2016-03-23) that keeps the
documented payload fields (:data:`PAYLOAD_FIELDS`) and adds ``device_id``
from the topic, ``timestamp`` (epoch ms) from the rule's ``timestamp()``,
``kind`` and ``expires_at`` (epoch s, for the table's TTL), none of which a
payload can set, and sends it

* to the device events table (DynamoDBv2 action: one item per message), and
* to a Kinesis Data Firehose stream that buffers messages into the archive
  bucket under ``iot/<kind>/dt=YYYY-MM-DD/`` (one S3 object per buffer, not
  per message), for Athena.

Each rule has an error action that writes a failed message (malformed
payload, throttled write) to ``iot-errors/<kind>/`` in the archive bucket,
so nothing is lost silently. Each rule has its own role, allowed only its own
actions on its own resources.

The device policy lets a connection use only its own thing name as client
id, and publish/subscribe/receive only under ``devices/<its thing name>/``
(policy variable ``${iot:Connection.Thing.ThingName}``).
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from shared.layout import IOT_ARCHIVE_PREFIX as ARCHIVE_PREFIX
from shared.layout import IOT_ERROR_PREFIX as ERROR_PREFIX
from shared.layout import IOT_KINDS as KINDS

from stacks.building_blocks import RETENTION

THING = "${iot:Connection.Thing.ThingName}"
EVENT_TTL_SECONDS = 90 * 24 * 3600


PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "events": ("type", "level", "message", "model", "labels", "codes", "photo"),
    "telemetry": ("metrics",),
}
"""The documented payload fields per kind; anything else a device sends is not stored."""


def rule_sql(kind: str) -> str:
    """The rule's SQL: the documented payload fields, then the fields we never take from it.

    Fields are listed rather than ``*``, so a payload cannot bring its own
    ``device_id``, ``timestamp``, ``kind`` or ``expires_at``.
    """
    # AWS IoT SQL built from this module's constants, not from input:
    fields = ", ".join(PAYLOAD_FIELDS[kind])
    trusted = (
        f"topic(2) AS device_id, timestamp() AS timestamp, '{kind}' AS kind, "
        f"floor(timestamp() / 1000) + {EVENT_TTL_SECONDS} AS expires_at"
    )
    return "SELECT " + fields + ", " + trusted + f" FROM 'devices/+/{kind}'"  # noqa: S608


class IotIngestion(Construct):
    """Topic rules, Firehose streams and the device policy of one stage.

    :ivar rules: topic rule per kind.
    :ivar streams: Firehose delivery stream per kind.
    :ivar device_policy: the IoT policy to attach to device certificates.
    :ivar thing_group: group of the stage's devices.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        device_events: dynamodb.ITable,
        archive: s3.IBucket,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.rules: dict[str, iot.CfnTopicRule] = {}
        self.streams: dict[str, firehose.CfnDeliveryStream] = {}
        # Like every log group of the stateless stack: deleted with it (the stack is
        # "always safe to destroy and redeploy"; CDK's default would orphan them).
        firehose_logs = logs.LogGroup(
            self,
            "FirehoseLogs",
            retention=RETENTION[log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        for kind in KINDS:
            self.streams[kind] = self._stream(kind, archive, firehose_logs)
            self.rules[kind] = self._rule(kind, device_events, archive)
        self.device_policy = self._device_policy()
        self.thing_group = iot.CfnThingGroup(
            self,
            "ThingGroup",
            thing_group_name=f"imgrec-{stage}-devices",
            thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                thing_group_description=f"Phones and boards of the {stage} stage"
            ),
        )

    def _service_role(self, construct_id: str, service: str) -> iam.Role:
        """A role only ``service`` may assume, and only on behalf of this account."""
        return iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal(
                service, conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
        )

    def _stream(
        self, kind: str, archive: s3.IBucket, log_group: logs.ILogGroup
    ) -> firehose.CfnDeliveryStream:
        role = self._service_role(f"{kind.capitalize()}FirehoseRole", "firehose.amazonaws.com")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[archive.arn_for_objects(f"{ARCHIVE_PREFIX}/{kind}/*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[archive.bucket_arn],
            )
        )
        stream_log = logs.LogStream(
            self,
            f"{kind.capitalize()}FirehoseLogStream",
            log_group=log_group,
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_group.grant_write(role)
        stream = firehose.CfnDeliveryStream(
            self,
            f"{kind.capitalize()}Stream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=archive.bucket_arn,
                role_arn=role.role_arn,
                prefix=f"{ARCHIVE_PREFIX}/{kind}/dt=!{{timestamp:yyyy-MM-dd}}/",
                error_output_prefix=(
                    f"{ARCHIVE_PREFIX}/{kind}/errors/!{{firehose:error-output-type}}/"
                    "dt=!{timestamp:yyyy-MM-dd}/"
                ),
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=300, size_in_m_bs=5
                ),
                compression_format="GZIP",
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=stream_log.log_stream_name,
                ),
            ),
        )
        stream.node.add_dependency(role)
        return stream

    def _rule(
        self, kind: str, device_events: dynamodb.ITable, archive: s3.IBucket
    ) -> iot.CfnTopicRule:
        role = self._service_role(f"{kind.capitalize()}RuleRole", "iot.amazonaws.com")
        stream = self.streams[kind]
        role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[device_events.table_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[stream.attr_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[archive.arn_for_objects(f"{ERROR_PREFIX}/{kind}/*")],
            )
        )
        return iot.CfnTopicRule(
            self,
            f"{kind.capitalize()}Rule",
            rule_name=f"imgrec_{self.stage}_{kind}",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=rule_sql(kind),
                aws_iot_sql_version="2016-03-23",
                description=f"Device {kind}: device events table and S3 archive",
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        dynamo_d_bv2=iot.CfnTopicRule.DynamoDBv2ActionProperty(
                            role_arn=role.role_arn,
                            put_item=iot.CfnTopicRule.PutItemInputProperty(
                                table_name=device_events.table_name
                            ),
                        )
                    ),
                    iot.CfnTopicRule.ActionProperty(
                        firehose=iot.CfnTopicRule.FirehoseActionProperty(
                            delivery_stream_name=stream.ref,
                            role_arn=role.role_arn,
                            separator="\n",
                            batch_mode=False,
                        )
                    ),
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    s3=iot.CfnTopicRule.S3ActionProperty(
                        bucket_name=archive.bucket_name,
                        key=f"{ERROR_PREFIX}/{kind}/${{topic(2)}}/${{timestamp()}}-${{newuuid()}}.json",
                        role_arn=role.role_arn,
                    )
                ),
            ),
        )

    def _device_policy(self) -> iot.CfnPolicy:
        stack = Stack.of(self)

        def arn(resource: str) -> str:
            return stack.format_arn(service="iot", resource=resource, resource_name=None)

        own_topics = f"devices/{THING}/*"
        return iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_name=f"imgrec-{self.stage}-device",
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iot:Connect",
                        "Resource": arn(f"client/{THING}"),
                        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["iot:Publish", "iot:Receive"],
                        "Resource": arn(f"topic/{own_topics}"),
                    },
                    {
                        "Effect": "Allow",
                        "Action": "iot:Subscribe",
                        "Resource": arn(f"topicfilter/{own_topics}"),
                    },
                ],
            },
        )
