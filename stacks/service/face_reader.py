"""The faces function: ``POST /v1/faces/search`` and ``/v1/faces/analyze`` in a Lambda of its own.

Creates the function (``inference_api.faces_handler``; 1024 MB for Pillow's
decode of a 15 MB upload and its crops; 28 s, under API Gateway's 29 s
integration limit) with the project's native layer (Pillow), shared with the
code reader, so the labels function's cold start never pays for it.

Permissions: ``rekognition:SearchUsersByImage`` on the stage's collection,
``rekognition:DetectFaces`` (no resource type in the Service Authorization
Reference: ``*``), GetObject under ``users/`` in the uploads bucket. No table:
a match's ``UserId`` names the person (``shared.people``).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from shared.layout import UPLOADS_PREFIX as UPLOAD_PREFIX

from stacks.building_blocks import api_function
from stacks.config import StageConfig
from stacks.data.recognition import Recognition


class FaceReader(Construct):
    """Everyone in the photo, as the stage's enrolled people.

    :ivar function: the function behind the face routes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        recognition: Recognition,
        uploads: s3.IBucket,
        layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = api_function(
            self,
            "Function",
            handler="inference_api.faces_handler.lambda_handler",
            description=f"Phone image recognition: faces and people ({config.name})",
            service=f"faces-{config.name}",
            log_retention_days=config.log_retention_days,
            allowed_origins=config.allowed_web_origins,
            environment={
                "COLLECTION_ID": recognition.collection.collection_id,
                "UPLOADS_BUCKET": uploads.bucket_name,
            },
            extra_layers=[layer],
        )
        for actions, resources in (
            (["rekognition:SearchUsersByImage"], [recognition.collection_arn]),
            (["rekognition:DetectFaces"], ["*"]),
            (["s3:GetObject"], [uploads.arn_for_objects(f"{UPLOAD_PREFIX}*")]),
        ):
            self.function.add_to_role_policy(
                iam.PolicyStatement(actions=actions, resources=resources)
            )
