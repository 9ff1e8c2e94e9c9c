"""AWS Control Tower proactive controls checked at synth, and the findings acknowledged.

``cdklabs-cdk-validator-cfnguard`` runs AWS's CloudFormation Guard rules of
the Control Tower proactive controls (``CT.S3.PR.1``...) over every template
as a CDK policy validation plugin (``cdk.App(policy_validation_beta1=...)``):
a finding fails ``cdk synth`` like a cdk-nag finding does
(https://github.com/cdklabs/cdk-validator-cfnguard#bundled-control-tower-rules).

:data:`GUARD_ACKNOWLEDGEMENTS` is the one table of controls this project
does not meet, each with the AWS reason; rows use the same shape as the
cdk-nag table (:class:`stacks.checks.nag.NagAcknowledgement`, rule ids
``cdk-validator-cfnguard::<rule name>``) and are applied with it.
``tests/infra/test_guard_rules.py`` fails when a finding is not covered or a row
matches nothing.
"""

from __future__ import annotations

from aws_cdk import IPolicyValidationPluginBeta1
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

from stacks.checks.nag import NagAcknowledgement

PLUGIN = "cdk-validator-cfnguard"


def validators() -> list[IPolicyValidationPluginBeta1]:
    """The policy validation plugins every app of this project is created with."""
    return [CfnGuardValidator(control_tower_rules_enabled=True)]


def _rows(rule: str, control: str, reason: str, *paths: str) -> tuple[NagAcknowledgement, ...]:
    return tuple(
        NagAcknowledgement(path=path, rule_id=f"{PLUGIN}::{rule}", reason=f"{control}: {reason}")
        for path in paths
    )


_DATA_BUCKETS = tuple(
    f"*-Data/Storage/{name}/Resource" for name in ("AccessLogs", "Training", "Uploads", "Archive")
)
_WEB_BUCKETS = ("*-Web/Site/Logs/Resource", "*-Web/Site/Bucket/Resource")
_PIPELINE_LOG_BUCKET = "Delivery/ArtifactAccessLogs/Resource"
_PIPELINE_ARTIFACTS = "Delivery/Pipeline/Pipeline/ArtifactsBucket/Resource"
_LOG_BUCKETS = (
    "*-Data/Storage/AccessLogs/Resource",
    "*-Web/Site/Logs/Resource",
    _PIPELINE_LOG_BUCKET,
)
_LOG_GROUPS = (
    "*-Service/CostGuard/FunctionLogs/Resource",
    "*-Service/InferenceApi/FunctionLogs/Resource",
    "*-Service/InferenceApi/CodeReader/FunctionLogs/Resource",
    "*-Service/InferenceApi/FaceReader/FunctionLogs/Resource",
    "*-Service/InferenceApi/AccessLogs/Resource",
    "*-Service/IotIngestion/FirehoseLogs/Resource",
    "*-Web/Site/DeploymentLogs/Resource",
    "*-Web/UploadsCors/Logs/Resource",
    "*-Service/Retraining/*/FunctionLogs/Resource",
    "*-Service/Retraining/Logs/Resource",
)
_CDK_PROVIDER_FUNCTIONS = (
    "*/Custom::S3AutoDeleteObjectsCustomResourceProvider/Handler",
    "*-Web/AWS679f53fac002430cb0da5b7982bd2287/Resource",
    "*-Web/Custom::CDKBucketDeployment*/Resource",
)
_DISTRIBUTION = "*-Web/Site/Distribution/Resource"
_DEFAULT_CERTIFICATE = (
    "the distribution serves its *.cloudfront.net domain with CloudFront's default "
    "certificate, for which AWS sets the security policy (TLSv1) and SNI cannot be chosen; a "
    "custom domain needs an ACM certificate in us-east-1 and DNS the project does not own "
    "(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
    "secure-connections-supported-viewer-protocols-ciphers.html). Viewers are redirected to "
    "HTTPS and browsers negotiate TLS 1.2 or 1.3"
)

GUARD_ACKNOWLEDGEMENTS: tuple[NagAcknowledgement, ...] = (
    *_rows(
        "lambda_inside_vpc_check",
        "CT.LAMBDA.PR.3",
        "the functions reach only AWS public service endpoints (Rekognition, S3, DynamoDB, "
        "SNS, CloudFormation) and no private resource; a VPC would add NAT gateways or "
        "interface endpoints per AZ for no isolation gain, and AWS Lambda runs every function "
        "in an AWS-managed VPC without inbound access "
        "(https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html)",
        "*-Service/*/Function/Resource",
        *_CDK_PROVIDER_FUNCTIONS,
    ),
    *_rows(
        "s3_bucket_default_encryption_kms_check",
        "CT.S3.PR.10",
        "every bucket is encrypted with SSE-S3; the log buckets must be (AWS S3 log delivery "
        "and CloudFront standard logs cannot write to SSE-KMS buckets, "
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html)"
        " and the data buckets are too so that Rekognition training and browsers' presigned "
        "PUTs need no grants on a customer key and requests pay no AWS KMS charge. The "
        "pipeline's artifact bucket is SSE-KMS",
        *_DATA_BUCKETS,
        *_WEB_BUCKETS,
        _PIPELINE_LOG_BUCKET,
    ),
    *_rows(
        "s3_bucket_object_lock_enabled_check",
        "CT.S3.PR.9",
        "AWS S3 Object Lock forbids deleting objects during their retention "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html), but photos "
        "must expire after upload_retention_days, a person's training photos must be "
        "removable on request, logs expire by lifecycle and dev buckets are emptied on "
        "delete; CodePipeline overwrites and expires its artifacts",
        *_DATA_BUCKETS,
        *_WEB_BUCKETS,
        _PIPELINE_LOG_BUCKET,
        _PIPELINE_ARTIFACTS,
    ),
    *_rows(
        "s3_event_notifications_enabled_check",
        "CT.S3.PR.4",
        "nothing reacts to object events in these buckets; an AWS S3 notification "
        "configuration needs a destination (SNS, SQS, Lambda or EventBridge) "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html), "
        "and one without a reader would only cost",
        *_DATA_BUCKETS,
        *_WEB_BUCKETS,
        _PIPELINE_LOG_BUCKET,
        _PIPELINE_ARTIFACTS,
    ),
    *_rows(
        "s3_bucket_versioning_enabled_check",
        "CT.S3.PR.11",
        "AWS S3 versioning keeps every deleted or overwritten object as a noncurrent version "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html): in the "
        "uploads bucket it would keep people's photos past upload_retention_days; log "
        "delivery only writes new keys; the site bucket is rebuilt from the repository by "
        "every deploy. The training, archive and pipeline artifact buckets are versioned",
        "*-Data/Storage/AccessLogs/Resource",
        "*-Data/Storage/Uploads/Resource",
        *_WEB_BUCKETS,
        _PIPELINE_LOG_BUCKET,
    ),
    *_rows(
        "s3_bucket_logging_enabled_check",
        "CT.S3.PR.2",
        "these are the access log buckets the other buckets log to; AWS advises against a "
        "bucket logging into itself, which writes logs of logs without end "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html)",
        *_LOG_BUCKETS,
    ),
    *_rows(
        "api_gw_v1_execution_logging_enabled_check",
        "CT.APIGATEWAY.PR.1",
        "the stage writes JSON access logs; AWS API Gateway execution logging needs the "
        "account-wide CloudWatch role (AWS::ApiGateway::Account, one per account and region, "
        "shared by every API there), which a project stack must not own "
        "(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html)",
        "*-Service/InferenceApi/Api/DeploymentStage.*/Resource",
    ),
    *_rows(
        "athena_workgroup_results_encrypted_at_rest_kms_check",
        "CT.ATHENA.PR.2",
        "query results are encrypted with SSE_S3 in the SSE-S3 archive bucket; SSE_KMS would "
        "need a customer key that QuickSight's service role is also granted "
        "(https://docs.aws.amazon.com/athena/latest/ug/encrypting-query-results-stored-in-s3."
        "html), for results that hold only device telemetry aggregates",
        "*-Service/Analytics/WorkGroup",
    ),
    *_rows(
        "cloudwatch_log_group_encrypted_check",
        "CT.CLOUDWATCH.PR.3",
        "AWS CloudWatch Logs encrypts every log group at rest by default "
        "(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html);"
        " the logs hold error codes and AWS causes, never images, tokens or presigned URLs",
        *_LOG_GROUPS,
        "*-Service/InferenceApi/WafLogs/Resource",  # where WAF is on (prod: 365 days kept)
        "Delivery/BuildLogs/Resource",
    ),
    *_rows(
        "cloudwatch_log_group_retention_period_check",
        "CT.CLOUDWATCH.PR.2",
        "the control asks for at least a year of retention; the dev stage keeps its logs "
        "log_retention_days (14) by configuration to bound AWS CloudWatch Logs storage, and "
        "prod keeps 365 days and passes "
        "(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-"
        "and-streams.html)",
        *(f"*Dev-{path.removeprefix('*-')}" for path in _LOG_GROUPS),
    ),
    *_rows(
        "lambda_function_public_access_prohibited_check",
        "CT.LAMBDA.PR.2",
        "AWS API Gateway invokes the function through a resource-based permission for the "
        "apigateway.amazonaws.com principal scoped by SourceArn to this API's execute-api ARN "
        "and method, which names the account "
        "(https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html); the "
        "control asks for aws:SourceAccount, which CDK's LambdaIntegration does not set",
        "*-Service/InferenceApi/Api/Default/v1/*/ApiPermission.*",
    ),
    *_rows(
        "sqs_dlq_check",
        "CT.SQS.PR.1",
        "these queues are themselves dead-letter queues: of the cost guard's asynchronous "
        "invocations and of the retraining schedule's target (each alarmed when not empty); "
        "an AWS SQS dead-letter queue of a dead-letter "
        "queue would move failures one step further from the alarm "
        "(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
        "sqs-dead-letter-queues.html)",
        "*-Service/CostGuard/DeadLetters/Resource",
        "*-Service/Retraining/ScheduleDeadLetters/Resource",
    ),
    *_rows(
        "cloudfront_origin_failover_enabled_check",
        "CT.CLOUDFRONT.PR.4",
        "an AWS CloudFront origin group needs a second origin to fail over to "
        "(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
        "high_availability_origin_failover.html); the page lives in one private bucket and "
        "the API it calls is regional, so a second site copy would not survive the region "
        "failing either",
        _DISTRIBUTION,
    ),
    *_rows(
        "cloudfront_custom_ssl_certificate_check",
        "CT.CLOUDFRONT.PR.6",
        _DEFAULT_CERTIFICATE,
        _DISTRIBUTION,
    ),
    *_rows(
        "cloudfront_sni_enabled_check", "CT.CLOUDFRONT.PR.7", _DEFAULT_CERTIFICATE, _DISTRIBUTION
    ),
    *_rows(
        "cloudfront_security_policy_check",
        "CT.CLOUDFRONT.PR.9",
        _DEFAULT_CERTIFICATE,
        _DISTRIBUTION,
    ),
)
"""Control Tower controls not met, per construct path, each with the AWS reason."""
