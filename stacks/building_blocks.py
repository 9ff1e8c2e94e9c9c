"""The shared building blocks every construct may use; this module imports no construct.

* :func:`python_function`, :func:`native_layer`, :func:`dead_letter_queue`: Lambda
  defaults in one place (below);
* :func:`private_bucket`: an S3 bucket with public access blocked, SSL-only, TLS 1.2+;
* :func:`public_client`: a Cognito app client for a page or a phone (no secret);
* :func:`limit_grants_to_aws_services`: a KMS key's grants only for AWS services.

Every function of the project is built by :func:`python_function`:

* Python 3.14 on arm64 (Graviton: cheaper per GB-second);
* code from ``lambda/`` with ``Code.from_asset`` (no Docker bundling); the
  handler path picks the function's package (``cost_guard.handler...``);
* Powertools for AWS Lambda from the AWS-published layer, pinned to
  :data:`POWERTOOLS_VERSION` through its public SSM parameter (resolved by
  CloudFormation at deploy time in the stack's own region, so synth stays
  offline and region-agnostic):
  https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer;
* JSON logs into a log group owned by the stack, with the stage's retention;
* active X-Ray tracing; an explicit role (no AWS managed policy) that may
  write only to the function's own log group.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.native_layer import LAYERS, PYTHON_VERSION
from stacks.native_layer import build as native_layer_build

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
"""Every function's; ``stacks.native_layer`` builds wheels for the same."""
POWERTOOLS_VERSION = "3.37.0"
"""Powertools release of the layer; tests run the same version from PyPI."""
LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"
METRICS_NAMESPACE = "PhoneImageRecognition"

RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
"""CloudWatch Logs retention in days -> CDK enum (the values config.py accepts)."""


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An SQS dead-letter queue: SSE-SQS, SSL-only, messages kept 14 days (SQS's longest:
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html)."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The AWS-published Powertools layer (Python 3.14, arm64) at :data:`POWERTOOLS_VERSION`
    (one reference per scope, shared by the functions built there)."""
    existing = scope.node.try_find_child("PowertoolsLayer")
    if existing is not None:
        return existing  # type: ignore[return-value]
    arn = ssm.StringParameter.value_for_string_parameter(
        scope, f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}"
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


def foundation_model_arn(scope: Construct, model_id: str) -> str:
    """``arn:<partition>:bedrock:<region>::foundation-model/<model_id>``: the IAM resource of
    an on-demand Bedrock model (foundation models have no account in their ARN)."""
    return Stack.of(scope).format_arn(
        service="bedrock",
        account="",
        resource="foundation-model",
        resource_name=model_id,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def native_layer(scope: Construct, construct_id: str, name: str) -> lambda_.LayerVersion:
    """A layer of native wheels for this runtime and architecture (``stacks.native_layer``),
    built without Docker at synth (or reused while its requirements are unchanged)."""
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=lambda_.Code.from_asset(str(native_layer_build(name))),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description=f"{name}: native wheels for Python {PYTHON_VERSION} on arm64 "
        f"({LAYERS[name].name})",
    )


API_FUNCTION_MEMORY_MB = 1024
"""For base64 decoding of a 4 MB image, and Pillow's decode of a 15 MB upload."""
API_FUNCTION_TIMEOUT = Duration.seconds(28)
"""Under API Gateway's 29-second integration limit."""


def api_function(
    scope: Construct,
    construct_id: str,
    *,
    handler: str,
    description: str,
    service: str,
    log_retention_days: int,
    allowed_origins: Sequence[str],
    environment: dict[str, str],
    extra_layers: Sequence[lambda_.ILayerVersion] = (),
) -> lambda_.Function:
    """A function behind the API's resolver (labels, codes, faces): :func:`python_function`
    with :data:`API_FUNCTION_MEMORY_MB`, :data:`API_FUNCTION_TIMEOUT`, the stage's web
    origins for CORS (``ALLOWED_ORIGINS``) and traces that never hold an answer
    (presigned URLs, names of people, what a code holds)."""
    return python_function(
        scope,
        construct_id,
        handler=handler,
        description=description,
        service=service,
        log_retention_days=log_retention_days,
        memory_size=API_FUNCTION_MEMORY_MB,
        timeout=API_FUNCTION_TIMEOUT,
        environment={
            **environment,
            "ALLOWED_ORIGINS": ",".join(allowed_origins),
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        },
        extra_layers=extra_layers,
    )


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    handler: str,
    description: str,
    service: str,
    log_retention_days: int,
    memory_size: int,
    timeout: Duration,
    environment: dict[str, str],
    dead_letter_queue: sqs.IQueue | None = None,
    reserved_concurrent_executions: int | None = None,
    extra_layers: Sequence[lambda_.ILayerVersion] = (),
) -> lambda_.Function:
    """A project Lambda function with the defaults above.

    :param handler: ``package.module.function`` under ``lambda/``.
    :param service: Powertools service name (logs, metrics dimension, traces).
    :param memory_size: MB; chosen per function, never the 128 MB default by accident.
    :param timeout: chosen per function.
    :param extra_layers: after Powertools' layer (native libraries: :func:`native_layer`).
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=RETENTION[log_retention_days],
        removal_policy=RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{description} (own log group only)",
    )
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        code=lambda_.Code.from_asset(
            str(LAMBDA_ROOT), exclude=["__pycache__", "*.pyc", "README.md"]
        ),
        handler=handler,
        layers=[powertools_layer(scope), *extra_layers],
        role=role,
        memory_size=memory_size,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE,
        logging_format=lambda_.LoggingFormat.JSON,
        log_group=log_group,
        dead_letter_queue=dead_letter_queue,
        reserved_concurrent_executions=reserved_concurrent_executions,
        environment={
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            **environment,
        },
    )


def private_bucket(scope: Construct, construct_id: str, **props: object) -> s3.Bucket:
    """A bucket that blocks public access, refuses plain HTTP and TLS < 1.2, SSE-S3.

    :param props: further ``s3.Bucket`` properties (ownership, lifecycle, logging...).
    """
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        **props,  # type: ignore[arg-type]
    )


def public_client(
    scope: Construct,
    construct_id: str,
    *,
    user_pool: cognito.IUserPool,
    callback_urls: list[str],
    refresh_token_validity: Duration,
) -> cognito.UserPoolClient:
    """A public app client (no secret): SRP and, given callback URLs, code grant + PKCE.

    ID and access tokens last one hour; refresh tokens ``refresh_token_validity``.
    The logout URLs are the callback URLs. The client may write no user attribute:
    a signed-in user cannot rewrite their own profile with their tokens (an
    administrator changes it).
    """
    return cognito.UserPoolClient(
        scope,
        construct_id,
        user_pool=user_pool,
        generate_secret=False,
        write_attributes=cognito.ClientAttributes(),
        auth_flows=cognito.AuthFlow(user_srp=True),
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        access_token_validity=Duration.hours(1),
        id_token_validity=Duration.hours(1),
        refresh_token_validity=refresh_token_validity,
        # Without callback URLs there is no page to return to: the hosted
        # login is switched off rather than pointed at CDK's example.com.
        disable_o_auth=not callback_urls,
        o_auth=cognito.OAuthSettings(
            flows=cognito.OAuthFlows(authorization_code_grant=True),
            scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
            callback_urls=callback_urls,
            logout_urls=callback_urls,
        )
        if callback_urls
        else None,
    )


def limit_grants_to_aws_services(key: kms.Key) -> None:
    """Deny ``kms:CreateGrant`` unless the grant is for an AWS service acting on an AWS
    resource (Control Tower CT.KMS.PR.3): no principal can hand the key on."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={
                "BoolIfExists": {
                    "kms:GrantIsForAWSResource": "false",
                    "aws:PrincipalIsAWSService": "false",
                }
            },
        )
    )
