"""cdk-nag: the rule packs this project is held to, and its few acknowledgements.

Every stack is checked against ``AwsSolutionsChecks`` and ``ServerlessChecks``
at synth; any finding not acknowledged here fails ``cdk synth``.

:data:`ACKNOWLEDGEMENTS` is the one table of acknowledged findings. Each row
names the construct paths it covers (``fnmatch`` patterns over construct
paths such as ``Dev-Data/Storage/AccessLogs/Resource``), the rule id (granular
where the rule reports findings, e.g. ``AwsSolutions-IAM4[Policy::...]``) and
the AWS constraint that forces it. ``tests/test_nag.py`` fails when a row no
longer matches any finding, so the table cannot rot.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


@dataclass(frozen=True)
class NagAcknowledgement:
    """One acknowledged finding: where, which rule, and the AWS reason."""

    path: str
    rule_id: str
    reason: str

    def rule_for(self, construct_path: str) -> str:
        """The concrete rule id for a construct path (``{stage}`` filled in)."""
        stack = construct_path.split("/", 1)[0]
        return self.rule_id.format(stage=stack.split("-", 1)[0].lower())

    def matches(self, construct_path: str, rule_id: str) -> bool:
        """Whether this row covers finding ``rule_id`` on ``construct_path``."""
        return fnmatchcase(construct_path, self.path) and self.rule_for(construct_path) == rule_id


ACKNOWLEDGEMENTS: tuple[NagAcknowledgement, ...] = (
    NagAcknowledgement(
        path="*-Service/CostGuard/FunctionRole/DefaultPolicy/Resource",
        rule_id="AwsSolutions-IAM5[Resource::*]",
        reason=(
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, "
            "which AWS X-Ray does not scope to resources: 'X-Ray doesn't support "
            "resource-level permissions for these actions' "
            "(https://docs.aws.amazon.com/xray/latest/devguide/security_iam_service-with-iam.html)"
        ),
    ),
    NagAcknowledgement(
        path="*-Service/CostGuard/FunctionRole/DefaultPolicy/Resource",
        rule_id=(
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rekognition:<AWS::Region>:"
            "<AWS::AccountId>:project/imgrec-{stage}-custom-labels/version/*]"
        ),
        reason=(
            "Start/StopProjectVersion act on project versions, which training creates "
            "at run time (CloudFormation has no AWS::Rekognition project version "
            "resource), so their ARNs cannot be listed at deploy; the wildcard is "
            "limited to this stage's project"
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
)
"""Acknowledged findings, each with the AWS constraint that forces it.

``{stage}`` in a rule id stands for the stage of the stack the path is in
(``Dev-Service`` -> ``dev``). The access log bucket needs no AwsSolutions-S1
row: cdk-nag treats a bucket receiving other buckets' access logs as
compliant.
"""


def register_checks(app: App) -> None:
    """Run the AWS Solutions and Serverless packs on every stack of ``app``."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def apply_acknowledgements(app: App) -> list[tuple[str, str]]:
    """Acknowledge, on each matching construct, the rows of :data:`ACKNOWLEDGEMENTS`.

    :returns: the ``(construct path, rule id)`` pairs acknowledged.
    """
    applied: list[tuple[str, str]] = []
    for node in _resources(app):
        path = node.node.path
        for row in ACKNOWLEDGEMENTS:
            if fnmatchcase(path, row.path):
                rule_id = row.rule_for(path)
                Validations.of(node).acknowledge(Acknowledgment(id=rule_id, reason=row.reason))
                applied.append((path, rule_id))
    return applied


def _resources(scope: IConstruct) -> list[IConstruct]:
    return [c for c in scope.node.find_all() if isinstance(c, CfnResource)]
