"""Recognition: the Custom Labels project and the face collection.

CloudFormation has native resources for both
(``AWS::Rekognition::Project``, ``AWS::Rekognition::Collection``) but none for
datasets or project versions: those are made by the project's model tools.
Creating the collection here means a missing collection fails the deploy,
not the first face search.

Names: the project is ``<prefix>-custom-labels`` and the collection
``<prefix>-faces``. Both must be unique per account and region, and match
``[a-zA-Z0-9_.\\-]+`` (project, 1-255 chars; collection, 1-255 chars):
https://docs.aws.amazon.com/rekognition/latest/APIReference/API_CreateProject.html,
https://docs.aws.amazon.com/rekognition/latest/APIReference/API_CreateCollection.html.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_rekognition as rekognition
from constructs import Construct


class Recognition(Construct):
    """The stage's Rekognition resources.

    :ivar project: the Custom Labels project (``project_arn``, ``project_name``).
    :ivar collection: the face collection (``collection_id``, ``collection_arn``).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name_prefix: str, retain_data: bool
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY

        self.project = rekognition.CfnProject(
            self, "Project", project_name=f"{name_prefix}-custom-labels"
        )
        self.project.apply_removal_policy(removal)

        self.collection = rekognition.CfnCollection(
            self, "Collection", collection_id=f"{name_prefix}-faces"
        )
        self.collection.apply_removal_policy(removal)

    @property
    def project_arn(self) -> str:
        """ARN of the project (``arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP``)."""
        return self.project.attr_arn

    @property
    def project_versions_arn_pattern(self) -> str:
        """ARN pattern matching every version of this project, for IAM resources."""
        stack = Stack.of(self)
        return stack.format_arn(
            service="rekognition",
            resource="project",
            resource_name=f"{self.project.project_name}/version/*",
        )

    @property
    def collection_arn(self) -> str:
        """ARN of the face collection."""
        return self.collection.attr_arn
