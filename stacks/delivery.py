"""The delivery pipeline: from a commit to every stage, approval before each later stage.

Opt-in: created only when ``cdk.json`` has a ``delivery`` object
(:class:`stacks.config.DeliveryConfig`); a single-account project without it
synthesizes exactly as before. Built with CDK Pipelines (``aws_cdk.pipelines``):

* **Source**: the repository through an AWS CodeConnections connection.
* **Synth**: one CodeBuild step in a Debian image (``.ci/run`` installs what
  the tests need with apt, as on any fresh machine) running the README's test
  command (``make test``, through ``.ci/run``) and ``make synth``; its
  ``cdk.out`` is the cloud assembly every later step deploys.
* **Self-mutation** (on): the pipeline updates itself from the new assembly
  before deploying anything else.
* **Stages** in ``delivery.stages`` order, each the three stacks of
  :func:`stacks.stage.add_stage_stacks` with the stage's pinned account and
  region; every stage after the first waits for a **manual approval**.
* **Cross-account**: ``cross_account_keys`` gives the artifact bucket a
  customer managed KMS key (rotated) that the stage accounts' bootstrap roles
  may use; each stage account must be bootstrapped with
  ``cdk bootstrap aws://<account>/<region> --trust <pipeline account>``.

Everything CDK Pipelines needs is expressed with it; nothing falls back to
the lower-level ``aws_codepipeline`` constructs.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from stacks.building_blocks import limit_grants_to_aws_services, private_bucket
from stacks.config import DeliveryConfig, StageConfig
from stacks.stage import add_stage_stacks

SYNTH_IMAGE = "public.ecr.aws/docker/library/python:3.11-bookworm"
"""Debian 12 with Python 3.11: the distribution `.ci/run` installs mosquitto and
Chromium from (Ubuntu, CodeBuild's standard image, ships Chromium only as a snap)."""
SYNTH_COMMANDS = ("./.ci/run", "make synth")


class StageDeployment(cdk.Stage):
    """One stage's three stacks as a unit the pipeline deploys.

    :ivar stacks: the stage's stacks.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        self.stacks = add_stage_stacks(self, config)


class DeliveryStack(cdk.Stack):
    """The pipeline (in the tooling account).

    :ivar pipeline: the CDK Pipelines pipeline (built: its CodePipeline exists).
    :ivar stages: the deployed stages, in delivery order.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        delivery: DeliveryConfig,
        stages: list[StageConfig],
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Phone image recognition: delivery pipeline from commit to every stage",
            **kwargs,
        )
        source = pipelines.CodePipelineSource.connection(
            delivery.repository, delivery.branch, connection_arn=delivery.connection_arn
        )
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            commands=list(SYNTH_COMMANDS),
            primary_output_directory="cdk.out",
            build_environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.from_docker_registry(SYNTH_IMAGE),
                compute_type=codebuild.ComputeType.MEDIUM,
            ),
        )
        self.build_logs = logs.LogGroup(
            self,
            "BuildLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="imgrec-delivery",
            synth=synth,
            self_mutation=True,
            cross_account_keys=True,
            enable_key_rotation=True,
            docker_enabled_for_synth=False,
            # Synth, self-mutation and asset publishing all log to one retained group.
            code_build_defaults=pipelines.CodeBuildOptions(
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_logs)
                )
            ),
        )
        by_name = {config.name: config for config in stages}
        self.stages: list[StageDeployment] = []
        for position, name in enumerate(delivery.stages):
            config = by_name[name]
            stage = StageDeployment(
                self,
                config.stack_prefix,
                config=config,
                env=cdk.Environment(account=config.account, region=config.region),
            )
            approval = pipelines.ManualApprovalStep(
                f"Approve{config.stack_prefix}",
                comment=f"Deploy {config.name}: the previous stage is deployed and checked",
            )
            self.pipeline.add_stage(stage, pre=[approval] if position else [])
            self.stages.append(stage)
        self.pipeline.build_pipeline()
        self.access_logs = self._harden_artifacts()
        # CDK Pipelines writes each cross-account deploy action's role ARN as a Fn::Join
        # with the partition; cfn-lint prefers Fn::Sub (E3703, style only) for it.
        cfn_pipeline = self.pipeline.pipeline.node.default_child
        assert isinstance(cfn_pipeline, cdk.CfnResource)
        cfn_pipeline.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3703"]}})

    def _harden_artifacts(self) -> s3.Bucket:
        """The artifact bucket and key CDK Pipelines creates, brought to the project's rules:
        access-logged, versioned with old versions expiring, and the key's grants limited
        to AWS services (Control Tower CT.S3.PR.2, CT.S3.PR.11, CT.S3.PR.6, CT.KMS.PR.3)."""
        bucket = self.pipeline.pipeline.artifact_bucket
        access_logs = private_bucket(
            self,
            "ArtifactAccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=cdk.Duration.days(365))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[access_logs.arn_for_objects("artifacts/*")],
                conditions={
                    "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID},
                },
            )
        )
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=access_logs.bucket_name, log_file_prefix="artifacts/"
        )
        cfn_bucket.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(
            status="Enabled"
        )
        cfn_bucket.lifecycle_configuration = s3.CfnBucket.LifecycleConfigurationProperty(
            rules=[
                s3.CfnBucket.RuleProperty(
                    id="expire-old-artifacts",
                    status="Enabled",
                    noncurrent_version_expiration=s3.CfnBucket.NoncurrentVersionExpirationProperty(
                        noncurrent_days=30
                    ),
                    abort_incomplete_multipart_upload=s3.CfnBucket.AbortIncompleteMultipartUploadProperty(
                        days_after_initiation=1
                    ),
                )
            ]
        )
        key = bucket.encryption_key
        assert isinstance(key, kms.Key)
        limit_grants_to_aws_services(key)
        return access_logs
