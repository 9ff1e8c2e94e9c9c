"""The code reader: ``POST /v1/codes`` in a Lambda function of its own.

Creates

* a layer of native wheels built for arm64 / CPython 3.14 without Docker
  (``stacks.native_layer``: zxing-cpp, Pillow, python-stdnum), which only
  this function loads, so the labels function's cold start does not pay for
  the decoder;
* the function (``inference_api.codes_handler``; 1024 MB for Pillow's decode
  of a 15 MB upload of up to 8192 px a side and its greyscale copy; 28 s,
  under API Gateway's 29 s integration limit).

Permissions: GetObject under ``users/`` in the uploads bucket (HeadObject
needs it too); ``rekognition:DetectText`` only where the stage turns
``codes.text_fallback`` on (DetectText has no resource type in the Service
Authorization Reference, so its resource is ``*``).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from shared.layout import UPLOADS_PREFIX as UPLOAD_PREFIX

from stacks.building_blocks import api_function, native_layer
from stacks.config import StageConfig


class CodeReader(Construct):
    """QR codes, barcodes and ISBNs read from the callers' photos.

    :ivar function: the function behind ``POST /v1/codes``.
    :ivar layer: its layer of native wheels.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, uploads: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.layer = native_layer(self, "Layer", "codes")
        self.function: lambda_.Function = api_function(
            self,
            "Function",
            handler="inference_api.codes_handler.lambda_handler",
            description=f"Phone image recognition: QR codes, barcodes, ISBNs ({config.name})",
            service=f"code-reader-{config.name}",
            log_retention_days=config.log_retention_days,
            allowed_origins=config.allowed_web_origins,
            environment={
                "UPLOADS_BUCKET": uploads.bucket_name,
                "CODES_TEXT_FALLBACK": "true" if config.codes.text_fallback else "false",
            },
            extra_layers=[self.layer],
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[uploads.arn_for_objects(f"{UPLOAD_PREFIX}*")]
            )
        )
        if config.codes.text_fallback:
            self.function.add_to_role_policy(
                iam.PolicyStatement(actions=["rekognition:DetectText"], resources=["*"])
            )
