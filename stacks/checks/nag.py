"""cdk-nag: the rule packs this project is held to, and its few acknowledgements.

Every stack is checked against ``AwsSolutionsChecks`` and ``ServerlessChecks``
at synth; any finding not acknowledged here fails ``cdk synth``.

:data:`ACKNOWLEDGEMENTS` is the one table of acknowledged findings. Each row
names the construct paths it covers (``fnmatch`` patterns over construct
paths such as ``Dev-Data/Storage/AccessLogs/Resource``), the rule id (granular
where the rule reports findings, e.g. ``AwsSolutions-IAM4[Policy::...]``) and
the AWS constraint that forces it. ``tests/infra/test_nag.py`` fails when a row no
longer matches any finding, so the table cannot rot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from aws_cdk import Acknowledgment, App, CfnResource, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct
from shared.layout import (
    DATASETS_PREFIX,
    FEEDBACK_PREFIX,
    IOT_ARCHIVE_PREFIX,
    IOT_ERROR_PREFIX,
    IOT_KINDS,
    MANIFEST_PREFIX,
    REKOGNITION_OUTPUT_PREFIX,
)


@dataclass(frozen=True)
class NagAcknowledgement:
    """One acknowledged finding: where, which rule, and the AWS reason."""

    path: str
    rule_id: str
    reason: str

    def rule_ids(
        self, construct_path: str, account: str | None = None, region: str | None = None
    ) -> set[str]:
        """:meth:`rule_for`, and for a pinned stack the variant with ``<AWS::Partition>``
        kept: CDK resolves the partition in ARNs it formats for the stack's region, but
        not in AWS managed policy ARNs, which it always joins with ``AWS::Partition``."""
        ids = {self.rule_for(construct_path, account, region)}
        if region:
            ids.add(self.rule_for(construct_path, account, region, keep_partition=True))
        return ids

    def rule_for(
        self,
        construct_path: str,
        account: str | None = None,
        region: str | None = None,
        *,
        keep_partition: bool = False,
    ) -> str:
        """The concrete rule id for a construct path.

        ``{stage}``/``{Stage}`` become the stage of the stack the path is in
        (``Dev-Service`` -> ``dev``, also inside a pipeline's ``Delivery/Dev/``);
        for a stack pinned to an ``account`` and ``region``, the tokens CDK
        leaves unresolved in an environment-agnostic stack become those values,
        as they appear in the findings of a pinned stack.
        """
        stage = next(
            (m.group(1) for part in construct_path.split("/") if (m := _STACK_ID.match(part))),
            construct_path.split("/", 1)[0].split("-", 1)[0],
        )
        rule = self.rule_id.replace("{stage}", stage.lower()).replace("{Stage}", stage)
        if account:
            rule = rule.replace("<AWS::AccountId>", account)
        if region:
            rule = rule.replace("<AWS::Region>", region).replace(
                '{"Ref":"AWS::Region"}', f'"{region}"'
            )
            if not keep_partition:
                partition = next((p for r, p in _PARTITIONS if region.startswith(r)), "aws")
                rule = rule.replace("<AWS::Partition>", partition)
        return rule

    def matches(
        self,
        construct_path: str,
        rule_id: str,
        account: str | None = None,
        region: str | None = None,
    ) -> bool:
        """Whether this row covers finding ``rule_id`` on ``construct_path`` (in a stack
        pinned to ``account`` and ``region``, if it is)."""
        return fnmatchcase(construct_path, self.path) and rule_id in self.rule_ids(
            construct_path, account, region
        )


_STACK_ID = re.compile(r"^([A-Za-z][A-Za-z0-9]*)-(?:Data|Service|Web)$")
_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))


_FUNCTION_POLICIES = "*-Service/*/FunctionRole/DefaultPolicy/Resource"

ACKNOWLEDGEMENTS: tuple[NagAcknowledgement, ...] = (
    NagAcknowledgement(
        path="*-Service/InferenceApi/Api/Resource",
        rule_id="AwsSolutions-APIG2",
        reason=(
            "API Gateway validates a body only against a request model (AWS: 'API Gateway "
            "validates a request body against its model'); the API's models are "
            "pydantic classes (JSON Schema 2020-12 with $defs) that API Gateway's draft-4 "
            "models cannot hold, so the handler validates every body against them and "
            "answers 400 naming the field; a validator without models would check nothing"
        ),
    ),
    NagAcknowledgement(
        path=_FUNCTION_POLICIES,
        rule_id="AwsSolutions-IAM5[Resource::*]",
        reason=(
            "Only for actions AWS does not scope to resources: active tracing's "
            "xray:PutTraceSegments/PutTelemetryRecords ('X-Ray doesn't support "
            "resource-level permissions', https://docs.aws.amazon.com/xray/latest/devguide/"
            "security_iam_service-with-iam.html) and the faces function's "
            "rekognition:DetectFaces, which takes no resource ARN (Service Authorization "
            "Reference, Amazon Rekognition: DetectFaces has no resource type), the code "
            "reader's rekognition:DetectText where a stage turns the printed-ISBN fallback "
            "on (no resource type either), and the "
            "retraining workflow's rekognition:DescribeProjects (no resource type either)"
        ),
    ),
    NagAcknowledgement(
        path=_FUNCTION_POLICIES,
        rule_id=(
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rekognition:<AWS::Region>:"
            "<AWS::AccountId>:project/imgrec-{stage}-custom-labels/version/*]"
        ),
        reason=(
            "DetectCustomLabels and Start/StopProjectVersion act on project versions, "
            "which training creates at run time (CloudFormation has no AWS::Rekognition "
            "project version resource), so their ARNs cannot be listed at deploy; the "
            "wildcard is limited to this stage's project"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/InferenceApi/*FunctionRole/DefaultPolicy/Resource",
        rule_id=(
            'AwsSolutions-IAM5[Resource::{"Fn::GetStackOutput":{"StackName":"{Stage}-Data",'
            '"Region":{"Ref":"AWS::Region"},"OutputName":'
            '"PublishOutputFnGetAttStorageUploadsBDC5E374Arn3BCF50BA"}}/users/*]'
        ),
        reason=(
            "Phone photos get object keys chosen at request time (users/<sub>/<uuid>); "
            "AWS S3 object ARNs in a policy can name such keys only by prefix "
            "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html), "
            "and the handler also checks a key is under the caller's own users/<sub>/"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/CostGuard/DeadLetters/Resource",
        rule_id="Serverless-SQSRedrivePolicy",
        reason=(
            "This queue is itself the dead-letter queue of the cost guard's schedule "
            "target and function; AWS SQS dead-letter queues are where redrive ends, "
            "and a further queue would only move the same messages"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/InferenceApi/*Function/Resource",
        rule_id="Serverless-LambdaDLQ",
        reason=(
            "API Gateway invokes these functions (the API's and the code reader's) "
            "synchronously and the caller receives "
            "every error; AWS Lambda uses a dead-letter queue only for asynchronous "
            "invocations (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html)"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/InferenceApi/Api/DeploymentStage.*/Resource",
        rule_id="AwsSolutions-APIG6",
        reason=(
            "Execution logging needs the account-wide API Gateway CloudWatch role "
            "(AWS::ApiGateway::Account, one per region), which several stages' stacks "
            "would overwrite; AWS API Gateway access logs (JSON, every request) and "
            "X-Ray tracing are enabled on the stage instead"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/InferenceApi/Api/DeploymentStage.*/Resource",
        rule_id="AwsSolutions-APIG3",
        reason=(
            "WAF is a per-stage choice (waf_enabled, on in prod): an AWS WAF web ACL "
            "costs a monthly fee plus per-request charges that a dev stage need not "
            "pay; Cognito authorization and stage throttling still apply"
        ),
    ),
)


_TRAINING_BUCKET = (
    '{"Fn::GetStackOutput":{"StackName":"{Stage}-Data","Region":{"Ref":"AWS::Region"},'
    '"OutputName":"PublishOutputFnGetAttStorageTraining0BB4FD5DArn35AA99B9"}}'
)
_S3_PREFIX_WHY = (
    "AWS S3 object ARNs in a policy can name such keys only by prefix "
    "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html)"
)


def _training_prefix_row(path: str, prefix: str, why: str) -> NagAcknowledgement:
    return NagAcknowledgement(
        path=path,
        rule_id=f"AwsSolutions-IAM5[Resource::{_TRAINING_BUCKET}/{prefix}*]",
        reason=f"{why}; {_S3_PREFIX_WHY}, and the grant is limited to {prefix} of the "
        "training bucket",
    )


def _logical_id(*path: str) -> str:
    """The logical id CDK gives the resource at ``path`` inside its stack (its
    ``makeUniqueId``: the path without ``Resource``/``Default`` and an MD5 of the whole)."""
    import hashlib

    digest = hashlib.md5("/".join(path).encode(), usedforsecurity=False).hexdigest()[:8]
    return "".join(p for p in path if p not in {"Resource", "Default"}) + digest.upper()


_RETRAINING_STEPS = (
    "Preflight",
    "PrepareData",
    "StartTraining",
    "TrainingStatus",
    "Evaluate",
    "Promote",
    "RefreshIndex",  # a stage with provisional answers only
)
_RETRAINING_ROLES = "*-Service/Retraining/*/FunctionRole/DefaultPolicy/Resource"

ACKNOWLEDGEMENTS += (
    _training_prefix_row(
        "*-Service/*/FunctionRole/DefaultPolicy/Resource",
        FEEDBACK_PREFIX,
        "Feedback copies get keys chosen at request time (feedback/<label>/<feedback id>); "
        "the API copies, shows and deletes them, the retraining workflow reads them",
    ),
    _training_prefix_row(
        "*-Service/InferenceApi/FunctionRole/DefaultPolicy/Resource",
        DATASETS_PREFIX,
        "A provisional answer shows the nearest labelled photos as presigned thumbnails; "
        "they are the training images people uploaded under datasets/<name>/<label>/ with "
        "any file names (GetObject only, and only with provisional.enabled)",
    ),
    _training_prefix_row(
        "*-Service/Retraining/PrepareData/FunctionRole/DefaultPolicy/Resource",
        DATASETS_PREFIX,
        "The retraining workflow reads the base training images, uploaded by people "
        "under datasets/<name>/<label>/ with any file names",
    ),
    _training_prefix_row(
        "*-Service/Retraining/RefreshIndex/FunctionRole/DefaultPolicy/Resource",
        DATASETS_PREFIX,
        "The photo index embeds the base training images, uploaded by people under "
        "datasets/<name>/<label>/ with any file names (GetObject only)",
    ),
    _training_prefix_row(
        "*-Service/Retraining/PrepareData/FunctionRole/DefaultPolicy/Resource",
        MANIFEST_PREFIX,
        "Each retraining run writes its manifests under manifests/retraining/<run>/, "
        "named after the execution",
    ),
    _training_prefix_row(
        "*-Service/Retraining/Evaluate/FunctionRole/DefaultPolicy/Resource",
        REKOGNITION_OUTPUT_PREFIX,
        "AWS Rekognition writes each version's evaluation summary under the output prefix "
        "with a name of its own choosing",
    ),
    NagAcknowledgement(
        path=_RETRAINING_ROLES,
        rule_id=(
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rekognition:<AWS::Region>:"
            "<AWS::AccountId>:project/imgrec-{stage}-custom-labels/dataset/*]"
        ),
        reason=(
            "The project's train and test datasets are created by the workflow itself "
            "(CloudFormation has no AWS::Rekognition dataset resource) with ARNs AWS makes up "
            "at run time; the wildcard is limited to this stage's project"
        ),
    ),
    *(
        NagAcknowledgement(
            path="*-Service/Retraining/StateMachine/Role/DefaultPolicy/Resource",
            rule_id=(
                "AwsSolutions-IAM5[Resource::<"
                f"{_logical_id('Retraining', step, 'Function', 'Resource')}.Arn>:*]"
            ),
            reason=(
                "CDK's LambdaInvoke task grants lambda:InvokeFunction on the function and its "
                "qualified ARNs (function:version or alias), the AWS Lambda ARN forms a "
                "Step Functions task may call; the function is this workflow's own step"
            ),
        )
        for step in _RETRAINING_STEPS
    ),
    NagAcknowledgement(
        path="*-Service/Retraining/StateMachine/Role/DefaultPolicy/Resource",
        rule_id="AwsSolutions-IAM5[Resource::*]",
        reason=(
            "Only for actions AWS does not scope to resources: X-Ray tracing's "
            "xray:PutTraceSegments/GetSamplingRules and Step Functions' CloudWatch Logs "
            "delivery (logs:CreateLogDelivery and the other *LogDelivery actions take '*': "
            "https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html)"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/Retraining/*/Function/Resource",
        rule_id="Serverless-LambdaDLQ",
        reason=(
            "Step Functions invokes these step functions synchronously and catches every "
            "error into the failure notification; AWS Lambda uses a dead-letter queue only "
            "for asynchronous invocations "
            "(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html)"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/Retraining/ScheduleDeadLetters/Resource",
        rule_id="Serverless-SQSRedrivePolicy",
        reason=(
            "This queue is itself the dead-letter queue of the retraining schedule's target; "
            "AWS SQS dead-letter queues are where redrive ends"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/Retraining/ScheduleDeadLetters/Resource",
        rule_id="AwsSolutions-SQS3",
        reason=(
            "This queue is the dead-letter queue of the retraining schedule's EventBridge "
            "target (cdk-nag recognizes only queues named as another queue's DLQ); an AWS SQS "
            "dead-letter queue of a dead-letter queue would only move the same messages"
        ),
    ),
)


def _archive_prefix_row(role: str, prefix: str, why: str) -> NagAcknowledgement:
    return NagAcknowledgement(
        path=f"*-Service/IotIngestion/{role}/DefaultPolicy/Resource",
        rule_id=(
            'AwsSolutions-IAM5[Resource::{"Fn::GetStackOutput":{"StackName":"{Stage}-Data",'
            '"Region":{"Ref":"AWS::Region"},"OutputName":'
            f'"PublishOutputFnGetAttStorageArchiveEF4C9845Arn65B86D2D"}}}}/{prefix}/*]'
        ),
        reason=(
            f"{why}; AWS S3 object ARNs in a policy can name such keys only by prefix "
            "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html), "
            f"and the grant is limited to {prefix}/ of the archive bucket"
        ),
    )


ACKNOWLEDGEMENTS += tuple(
    row
    for kind in IOT_KINDS
    for row in (
        _archive_prefix_row(
            f"{kind.capitalize()}FirehoseRole",
            f"{IOT_ARCHIVE_PREFIX}/{kind}",
            "Kinesis Data Firehose names each archive object by delivery time and a random suffix",
        ),
        _archive_prefix_row(
            f"{kind.capitalize()}RuleRole",
            f"{IOT_ERROR_PREFIX}/{kind}",
            "The topic rule's error action names each failed message's object by topic, "
            "timestamp and a new UUID",
        ),
    )
)

_DEPLOYMENT = "*-Web/Custom::CDKBucketDeployment*"
"""CDK's BucketDeployment provider (a singleton Lambda per stack)."""
_SDK_CALLS = "*-Web/AWS679f53fac002430cb0da5b7982bd2287"
"""CDK's AwsCustomResource provider (a singleton Lambda per stack)."""
_CDK_PROVIDERS_WHY = (
    "CDK's own custom-resource provider, invoked only by AWS CloudFormation during a "
    "deployment of this stack"
)

ACKNOWLEDGEMENTS += (
    NagAcknowledgement(
        path="*-Web/Site/Distribution/Resource",
        rule_id="AwsSolutions-CFR1",
        reason=(
            "The quick-test page serves a team's own members wherever they are, and only "
            "after Cognito sign-in; AWS CloudFront geo restriction is a per-country "
            "allow/deny list with no country this project could choose for every team"
        ),
    ),
    NagAcknowledgement(
        path="*-Web/Site/Distribution/Resource",
        rule_id="AwsSolutions-CFR2",
        reason=(
            "AWS WAF web ACLs for CloudFront must be created in us-east-1 (scope "
            "CLOUDFRONT, https://docs.aws.amazon.com/waf/latest/developerguide/"
            "how-aws-waf-works-resources.html), which this regional stack cannot; /v1/* "
            "reaches the API stage, which carries the stage's regional web ACL when "
            "waf_enabled, and the static page needs no rules"
        ),
    ),
    NagAcknowledgement(
        path="*-Web/Site/Distribution/Resource",
        rule_id="AwsSolutions-CFR4",
        reason=(
            "The distribution uses CloudFront's default *.cloudfront.net certificate, for "
            "which AWS CloudFront fixes the viewer security policy (TLSv1); a minimum "
            "protocol version can only be set with a custom domain and ACM certificate "
            "(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
            "secure-connections-supported-viewer-protocols-ciphers.html)"
        ),
    ),
    *(
        NagAcknowledgement(
            path=f"{provider}/ServiceRole/Resource",
            rule_id=(
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]"
            ),
            reason=(
                f"{_CDK_PROVIDERS_WHY}; the AWS managed policy grants only CloudWatch Logs "
                "writes, and CDK attaches it to the provider's role itself"
            ),
        )
        for provider in (_DEPLOYMENT, _SDK_CALLS)
    ),
    *(
        NagAcknowledgement(
            path=f"{_DEPLOYMENT}/ServiceRole/DefaultPolicy/Resource",
            rule_id=f"AwsSolutions-IAM5[{finding}]",
            reason=(
                "CDK's BucketDeployment grants itself read of the CDK bootstrap assets "
                "bucket and read/write/delete of this stack's site bucket, with the action "
                "groups of CDK's grantRead/grantReadWrite; the resources are those two "
                "buckets only, and AWS S3 object ARNs can name a bucket's objects only "
                "with a wildcard"
            ),
        )
        for finding in (
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            "<AWS::Region>/*",
            "Resource::<SiteBucket978D4AEB.Arn>/*",
        )
    ),
    *(
        NagAcknowledgement(
            path=f"{_DEPLOYMENT}/Resource",
            rule_id=rule,
            reason=(
                f"{_CDK_PROVIDERS_WHY}; its runtime is fixed by aws-cdk-lib (the Python "
                "version its bundled AWS CLI layer supports) and moves when aws-cdk-lib is "
                "upgraded"
            ),
        )
        for rule in ("AwsSolutions-L1", "Serverless-LambdaLatestVersion")
    ),
    *(
        NagAcknowledgement(
            path=f"{provider}/Resource",
            rule_id="Serverless-LambdaDLQ",
            reason=(
                f"{_CDK_PROVIDERS_WHY}; AWS CloudFormation waits for each custom resource's "
                "answer and fails and rolls back the deployment when none comes, so a "
                "dead-letter queue would keep an event nobody can replay"
            ),
        )
        for provider in (_DEPLOYMENT, _SDK_CALLS)
    ),
    *(
        NagAcknowledgement(
            path=f"{provider}/Resource",
            rule_id="Serverless-LambdaTracing",
            reason=(
                f"{_CDK_PROVIDERS_WHY}; CDK exposes no tracing setting for these singleton "
                "functions, and their runs are logged to CloudWatch Logs with the stage's "
                "retention"
            ),
        )
        for provider in (_DEPLOYMENT, _SDK_CALLS)
    ),
)

"""Acknowledged findings, each with the AWS constraint that forces it.

``{stage}`` in a rule id stands for the stage of the stack the path is in
(``Dev-Service`` -> ``dev``). The access log bucket needs no AwsSolutions-S1
row: cdk-nag treats a bucket receiving other buckets' access logs as
compliant.
"""

_PIPELINE = "Delivery/Pipeline/*"
_PIPELINE_GRANTS = (
    "CDK Pipelines (aws_cdk.pipelines) generates this grant for the delivery pipeline: "
    "read/write on its own artifact bucket and KMS key (CDK's grantReadWrite expands to these "
    "action wildcards), CodeBuild's own log and report groups named after each project, "
    "sts:AssumeRole on this account's CDK bootstrap roles (conditioned on their "
    "aws-cdk:bootstrap-role tag) and the describe calls AWS CloudFormation and CodeBuild do "
    "not scope to resources (Service Authorization Reference)"
)

ACKNOWLEDGEMENTS += (
    *tuple(
        NagAcknowledgement(
            path=_PIPELINE, rule_id=f"AwsSolutions-IAM5[{finding}]", reason=_PIPELINE_GRANTS
        )
        for finding in (
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            "Action::kms:GenerateDataKey*",
            "Action::kms:ReEncrypt*",
            "Resource::<PipelineArtifactsBucketAEA9A052.Arn>/*",
            "Resource::*",
            "Resource::arn:*:iam::<AWS::AccountId>:role/*",
            "Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/*",
            "Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/"
            "<PipelineBuildSynthCdkBuildProject6BEFA8E6>-*",
            "Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/"
            "<PipelineUpdatePipelineSelfMutationDAA41400>-*",
            "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/codebuild/*",
            "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/codebuild/<PipelineBuildSynthCdkBuildProject6BEFA8E6>:*",
            "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/codebuild/<PipelineUpdatePipelineSelfMutationDAA41400>:*",
        )
    ),
    NagAcknowledgement(
        path="Delivery/Pipeline/Pipeline/Build/Synth/CdkBuildProject/Resource",
        rule_id="AwsSolutions-CB5",
        reason="The synth step runs the project's tests, whose real servers come from Debian "
        "(mosquitto, Chromium as a .deb); AWS CodeBuild's curated images are Ubuntu, where "
        "Chromium is a snap that does not run in CodeBuild, and Amazon Linux, which has "
        "neither; the image is Docker's official python:3.11-bookworm from Amazon ECR Public",
    ),
)
"""The delivery pipeline's findings (only when ``cdk.json`` configures ``delivery``)."""


def register_checks(app: App) -> None:
    """Run the AWS Solutions and Serverless packs on every stack of ``app``."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def apply_acknowledgements(
    app: App, rows: tuple[NagAcknowledgement, ...] = ACKNOWLEDGEMENTS
) -> list[tuple[str, str]]:
    """Acknowledge, on each matching construct, the ``rows`` (cdk-nag's table by default).

    :returns: the ``(construct path, rule id)`` pairs acknowledged.
    """
    applied: list[tuple[str, str]] = []
    for node in _resources(app):
        path = node.node.path
        stack = Stack.of(node)
        account = None if Token.is_unresolved(stack.account) else stack.account
        region = None if Token.is_unresolved(stack.region) else stack.region
        for row in rows:
            if fnmatchcase(path, row.path):
                for rule_id in sorted(row.rule_ids(path, account, region)):
                    Validations.of(node).acknowledge(Acknowledgment(id=rule_id, reason=row.reason))
                    applied.append((path, rule_id))
    return applied


def _resources(scope: IConstruct) -> list[IConstruct]:
    return [c for c in scope.node.find_all() if isinstance(c, CfnResource)]
