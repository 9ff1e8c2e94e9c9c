"""Storage: the project's four S3 buckets.

Creates

* ``access_logs``: target of every other bucket's server access logs
  (SSE-S3, because S3 server access logging cannot deliver to a bucket
  encrypted with SSE-KMS:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html);
* ``training``: training images laid out one folder per label, versioned,
  readable by Amazon Rekognition through the bucket policy Custom Labels
  documents; Rekognition writes evaluation output under
  :data:`REKOGNITION_OUTPUT_PREFIX`;
* ``uploads``: photos the phone PUTs through presigned URLs; objects expire
  after ``upload_retention_days``. Its CORS rules (browsers' PUTs) belong to
  ``<Stage>-Web`` (:class:`stacks.web.site.UploadsCors`), the only stack that
  knows the page's CloudFront domain;
* ``archive``: device logs and telemetry (date-partitioned by the IoT
  ingestion), moving to colder storage classes as it ages.

Every bucket blocks public access, refuses plain HTTP, is encrypted with
SSE-S3 (Rekognition, Athena and Firehose read it without KMS key grants) and
logs access to ``access_logs``.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct
from shared.layout import REKOGNITION_OUTPUT_PREFIX

from stacks.building_blocks import private_bucket

REKOGNITION_BUCKET_ACTIONS = ("s3:GetBucketAcl", "s3:GetBucketLocation")
REKOGNITION_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
)
"""What Rekognition Custom Labels needs on a training bucket it does not own.

Source: "Accessing external Amazon S3 Buckets" in the Custom Labels guide
(https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/su-console-policy.html).
"""


class Storage(Construct):
    """The project's buckets.

    :ivar access_logs: server access log bucket.
    :ivar training: training-data bucket (Rekognition may read it).
    :ivar uploads: phone uploads bucket (short lifecycle).
    :ivar archive: device log and telemetry archive.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain_data: bool,
        upload_retention_days: int,
        access_log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY
        self._auto_delete = not retain_data

        self.access_logs = self._build_access_log_bucket(access_log_retention_days)
        self.training = self._build_training_bucket()
        self.uploads = self._build_uploads_bucket(upload_retention_days)
        self.archive = self._build_archive_bucket()

    def _bucket(
        self, construct_id: str, *, logs: s3.IBucket | None, **overrides: object
    ) -> s3.Bucket:
        """A :func:`private_bucket` owned by the bucket owner, logging to ``logs`` when given."""
        props: dict[str, object] = {
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": self._removal,
            "auto_delete_objects": self._auto_delete,
        }
        if logs is not None:
            props["server_access_logs_bucket"] = logs
            props["server_access_logs_prefix"] = f"{construct_id.lower()}/"
        props.update(overrides)
        return private_bucket(self, construct_id, **props)

    def _build_access_log_bucket(self, retention_days: int) -> s3.Bucket:
        return self._bucket(
            "AccessLogs",
            logs=None,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-logs", expiration=Duration.days(retention_days))
            ],
        )

    def _build_training_bucket(self) -> s3.Bucket:
        bucket = self._bucket(
            "Training",
            logs=self.access_logs,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        rekognition = iam.ServicePrincipal("rekognition.amazonaws.com")
        same_account = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RekognitionReadBucket",
                principals=[rekognition],
                actions=list(REKOGNITION_BUCKET_ACTIONS),
                resources=[bucket.bucket_arn],
                conditions=same_account,
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RekognitionReadObjects",
                principals=[rekognition],
                actions=list(REKOGNITION_OBJECT_ACTIONS),
                resources=[bucket.arn_for_objects("*")],
                conditions=same_account,
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RekognitionWriteOutput",
                principals=[rekognition],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{REKOGNITION_OUTPUT_PREFIX}*")],
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": Aws.ACCOUNT_ID,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    }
                },
            )
        )
        return bucket

    def _build_uploads_bucket(self, retention_days: int) -> s3.Bucket:
        return self._bucket(
            "Uploads",
            logs=self.access_logs,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-uploads",
                    expiration=Duration.days(retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )

    def _build_archive_bucket(self) -> s3.Bucket:
        return self._bucket(
            "Archive",
            logs=self.access_logs,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="colder-with-age",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(30),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(180),
                        ),
                    ],
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
