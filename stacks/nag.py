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

    def matches(self, construct_path: str, rule_id: str) -> bool:
        """Whether this row covers finding ``rule_id`` on ``construct_path``."""
        return self.rule_id == rule_id and fnmatchcase(construct_path, self.path)


ACKNOWLEDGEMENTS: tuple[NagAcknowledgement, ...] = ()
"""Acknowledged findings. Empty today: every finding of both packs is fixed.

(The access log bucket needs no AwsSolutions-S1 acknowledgement: cdk-nag
treats a bucket that receives other buckets' access logs as compliant.)
Add a row only with the AWS constraint that makes the finding unavoidable,
for example ``NagAcknowledgement(path="*-Service/Api/*/ServiceRole/Resource",
rule_id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/...]",
reason="...")``.
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
                Validations.of(node).acknowledge(Acknowledgment(id=row.rule_id, reason=row.reason))
                applied.append((path, row.rule_id))
    return applied


def _resources(scope: IConstruct) -> list[IConstruct]:
    return [c for c in scope.node.find_all() if isinstance(c, CfnResource)]
