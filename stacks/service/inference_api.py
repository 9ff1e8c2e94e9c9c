"""Inference API: API Gateway (REST) + the ``inference_api`` Lambda, for the phone.

Creates

* the function (``lambda/inference_api``; 1024 MB for base64 decoding of a
  4 MB image, 28 s timeout, under API Gateway's 29 s integration limit);
* a regional REST API with routes under ``/v1`` (see the handler's docstring
  and ``docs/openapi.json``), every method behind the stage's Cognito user
  pool authorizer, request validation, stage throttling from config, JSON
  access logs, X-Ray tracing, CORS only for the stage's web origins, and
  JSON gateway responses (a 10 MB+ body gets a JSON 413 that says so, not a
  bare one);
* when ``waf_enabled``: a WAFv2 web ACL with a rate-based rule per client IP
  (``waf_rate_limit`` per 5 minutes) and AWS's common rule set (its 8 KB body
  limit is counted, not blocked: images travel in bodies).

The code reader (``POST /v1/codes``) is a second function with its own role:
GetObject under ``users/``, and DetectText only where ``codes.text_fallback``
is on; its layer holds the native decoder (``stacks.native_layer``).

Permissions: DetectCustomLabels and StartProjectVersion on this project's
versions, DescribeProjectVersions on the project, GetObject/PutObject under
``users/`` in the uploads bucket, GetItem and UpdateItem on the model usage
table (the face routes are the faces function's: ``face_reader``);
for feedback, Get/Put/DeleteObject under ``feedback/`` in the training
bucket, Get/Put/UpdateItem on the feedback table and Query on its status index;
with ``provisional.enabled``, InvokeModel on the one embedding model's
foundation-model ARN, QueryVectors and GetVectors (the neighbours' metadata) on
the photo index, and GetObject under ``datasets/`` (the neighbours' thumbnails).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from shared.embeddings import MODELS
from shared.layout import DATASETS_PREFIX, FEEDBACK_BY_STATUS_INDEX, FEEDBACK_PREFIX
from shared.layout import UPLOADS_PREFIX as UPLOAD_PREFIX
from shared.routes import API_VERSION_PREFIX, CODE_READER_ROUTES, FACE_ROUTES, ROUTES

from stacks.building_blocks import RETENTION, api_function, foundation_model_arn
from stacks.config import StageConfig
from stacks.data.recognition import Recognition
from stacks.data.vectors import PhotoIndex
from stacks.service.code_reader import CodeReader
from stacks.service.face_reader import FaceReader

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "sub": "$context.authorizer.claims.sub",
    "errorMessage": "$context.error.message",
    "errorResponseType": "$context.error.responseType",
    "wafResponseCode": "$context.wafResponseCode",
    "integrationLatency": "$context.integrationLatency",
    "responseLatency": "$context.responseLatency",
}
"""One JSON line per request: who called (the Cognito authorizer's ``sub``: under a Cognito
authorizer ``$context.identity.user`` is empty), what API Gateway or WAF answered and how
long the function took (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference)."""
AWS_MESSAGE = "$context.error.messageString"  # already a quoted JSON string
GATEWAY_ERRORS: dict[str, tuple[apigw.ResponseType, str, str]] = {
    "PayloadTooLarge": (
        apigw.ResponseType.REQUEST_TOO_LARGE,
        "payload_too_large",
        "\"the request is over API Gateway's 10 MB limit; upload the photo with "
        'POST /v1/uploads and send its s3_key"',
    ),
    "Unauthorized": (apigw.ResponseType.UNAUTHORIZED, "unauthenticated", AWS_MESSAGE),
    "AccessDenied": (apigw.ResponseType.ACCESS_DENIED, "forbidden", AWS_MESSAGE),
    "Throttled": (apigw.ResponseType.THROTTLED, "throttled", AWS_MESSAGE),
    "WafBlocked": (apigw.ResponseType.WAF_FILTERED, "blocked", AWS_MESSAGE),
    "Default4xx": (apigw.ResponseType.DEFAULT_4_XX, "bad_request", AWS_MESSAGE),
    "Default5xx": (apigw.ResponseType.DEFAULT_5_XX, "gateway_error", AWS_MESSAGE),
}
"""API Gateway's own errors, answered in the API's JSON error shape."""


class InferenceApi(Construct):
    """The phone's API.

    :ivar function: the Lambda function behind every route but ``/v1/codes``.
    :ivar code_reader: the code reader's function (``POST /v1/codes``).
    :ivar native_layer: its layer of native wheels (Pillow...), which other functions reuse.
    :ivar face_reader: the faces function (``POST /v1/faces/*``).
    :ivar api: the REST API (``api.url`` ends with the stage name).
    :ivar web_acl: the WAFv2 web ACL, or None when the stage has none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        recognition: Recognition,
        model_usage: dynamodb.ITable,
        uploads: s3.IBucket,
        user_pool: cognito.IUserPool,
        training: s3.IBucket,
        feedback: dynamodb.ITable,
        photo_index: PhotoIndex | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        sustained = config.auto_start_on_demand == "sustained"
        provisional = config.provisional
        self.function = api_function(
            self,
            "Function",
            handler="inference_api.handler.lambda_handler",
            description=f"Phone image recognition API ({config.name})",
            service=f"inference-api-{config.name}",
            log_retention_days=config.log_retention_days,
            allowed_origins=config.allowed_web_origins,
            environment={
                "PROJECT_ARN": recognition.project_arn,
                "MODEL_USAGE_TABLE": model_usage.table_name,
                "UPLOADS_BUCKET": uploads.bucket_name,
                "AUTO_START_ON_DEMAND": "true" if config.auto_start_on_demand else "false",
                "SUSTAINED_MINUTES_WITH_REQUESTS": str(
                    config.sustained_demand.minutes_with_requests if sustained else 0
                ),
                "SUSTAINED_WITHIN_MINUTES": str(config.sustained_demand.within_minutes),
                "PROVISIONAL_ENABLED": "true" if photo_index is not None else "false",
                "PROVISIONAL_K": str(provisional.k),
                "PROVISIONAL_MIN_SIMILARITY": f"{provisional.min_similarity:g}",
                "EMBEDDING_MODEL": provisional.embedding_model,
                "PHOTO_INDEX_ARN": photo_index.index_arn if photo_index is not None else "",
                "USD_PER_INFERENCE_UNIT_HOUR": f"{config.usd_per_inference_unit_hour:g}",
                "MIN_INFERENCE_UNITS": str(config.min_inference_units),
                "UPLOAD_URL_EXPIRY_SECONDS": str(config.upload_url_expiry_seconds),
                "TRAINING_BUCKET": training.bucket_name,
                "FEEDBACK_TABLE": feedback.table_name,
                "REVIEW_BELOW_CONFIDENCE": f"{config.feedback.review_below_confidence:g}",
                "DAILY_UNIT_HOUR_CAP": f"{config.daily_unit_hour_cap:g}",
            },
        )
        self._grant(recognition, model_usage, uploads)
        self._grant_feedback(training, feedback)
        if photo_index is not None:
            self._grant_provisional(config, photo_index, training)
        reader = CodeReader(self, "CodeReader", config=config, uploads=uploads)
        self.code_reader = reader.function
        self.native_layer = reader.layer
        self.face_reader = FaceReader(
            self,
            "FaceReader",
            config=config,
            recognition=recognition,
            uploads=uploads,
            layer=reader.layer,
        ).function
        self.api = self._build_api(config, user_pool)
        self.web_acl = self._build_waf(config) if config.waf_enabled else None

    def _grant(
        self,
        recognition: Recognition,
        model_usage: dynamodb.ITable,
        uploads: s3.IBucket,
    ) -> None:
        fn: lambda_.Function = self.function
        statements = [
            (
                ["rekognition:DetectCustomLabels", "rekognition:StartProjectVersion"],
                [recognition.project_versions_arn_pattern],
            ),
            (["rekognition:DescribeProjectVersions"], [recognition.project_arn]),
            (["s3:GetObject", "s3:PutObject"], [uploads.arn_for_objects(f"{UPLOAD_PREFIX}*")]),
        ]
        for actions, resources in statements:
            fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))
        model_usage.grant(fn, "dynamodb:GetItem", "dynamodb:UpdateItem")

    def _grant_feedback(self, training: s3.IBucket, feedback: dynamodb.ITable) -> None:
        """Copies into, reads (presigned review images) and deletes under ``feedback/`` only;
        the feedback table's items and its status index (the review queue)."""
        fn: lambda_.Function = self.function
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[training.arn_for_objects(f"{FEEDBACK_PREFIX}*")],
            )
        )
        # Not feedback.grant(): that adds index/* for every index; only by-status is queried.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[feedback.table_arn],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[f"{feedback.table_arn}/index/{FEEDBACK_BY_STATUS_INDEX}"],
            )
        )

    def _grant_provisional(
        self, config: StageConfig, photo_index: PhotoIndex, training: s3.IBucket
    ) -> None:
        """The provisional path: embed with one model, query one index (GetVectors too:
        QueryVectors with ``returnMetadata`` needs it), presign the neighbours' photos."""
        model = MODELS[config.provisional.embedding_model]
        foundation_model = foundation_model_arn(self, model.model_id)
        fn: lambda_.Function = self.function
        for actions, resources in (
            (["bedrock:InvokeModel"], [foundation_model]),
            (["s3vectors:QueryVectors", "s3vectors:GetVectors"], [photo_index.index_arn]),
            (["s3:GetObject"], [training.arn_for_objects(f"{DATASETS_PREFIX}*")]),
        ):
            fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))

    def _build_api(self, config: StageConfig, user_pool: cognito.IUserPool) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        origins = config.allowed_web_origins
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"imgrec-{config.name}",
            description=f"Phone image recognition API ({config.name})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=config.name,
                throttling_rate_limit=config.api_throttling.rate_limit,
                throttling_burst_limit=config.api_throttling.burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=Duration.hours(1),
            )
            if origins
            else None,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool]
        )

        # No API Gateway request validator: with no request models it validates nothing.
        # Bodies are checked by the handler against the pydantic schema that also writes
        # docs/openapi.json (field, reason and allowed values in a 400).
        # No test-invoke permissions: the console's "Test" button is not a client of this API.
        def integration(function: lambda_.IFunction) -> apigw.LambdaIntegration:
            return apigw.LambdaIntegration(
                function, timeout=Duration.seconds(29), allow_test_invoke=False
            )

        labels = integration(self.function)
        code_reader, face_reader = integration(self.code_reader), integration(self.face_reader)
        served_by = {
            **dict.fromkeys(CODE_READER_ROUTES, code_reader),
            **dict.fromkeys(FACE_ROUTES, face_reader),
        }
        v1 = api.root.add_resource("v1")
        for method, path in ROUTES:
            resource: apigw.IResource = v1
            for part in path.removeprefix(API_VERSION_PREFIX).split("/"):
                resource = resource.get_resource(part) or resource.add_resource(part)
            resource.add_method(
                method,
                served_by.get((method, path), labels),
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
            )
        cors_headers = (
            {"Access-Control-Allow-Origin": f"'{origins[0]}'"} if len(origins) == 1 else {}
        )
        for response_id, (response_type, code, message) in GATEWAY_ERRORS.items():
            body = f'{{"error": {{"code": "{code}", "message": {message}, "field": null}}}}'
            api.add_gateway_response(
                response_id,
                type=response_type,
                response_headers=cors_headers,
                templates={"application/json": body},
            )
        return api

    def _build_waf(self, config: StageConfig) -> wafv2.CfnWebACL:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"imgrec-{config.name}-{name}",
                sampled_requests_enabled=True,
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("api"),
            rules=[
                # Per caller, not per address: the page's calls arrive from CloudFront's edge
                # addresses, so an IP key would pool everyone behind one edge.
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-per-caller",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.waf_rate_limit,
                            aggregate_key_type="CUSTOM_KEYS",
                            custom_keys=[
                                wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                                    header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                        name="authorization",
                                        text_transformations=[
                                            wafv2.CfnWebACL.TextTransformationProperty(
                                                priority=0, type="NONE"
                                            )
                                        ],
                                    )
                                )
                            ],
                        )
                    ),
                    visibility_config=visibility("rate-per-caller"),
                ),
                # Callers with no token (refused by the authorizer anyway) by the client
                # address CloudFront forwards; requests without the header count as matched.
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-per-forwarded-ip",
                    priority=1,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.waf_rate_limit,
                            aggregate_key_type="FORWARDED_IP",
                            forwarded_ip_config=wafv2.CfnWebACL.ForwardedIPConfigurationProperty(
                                header_name="X-Forwarded-For", fallback_behavior="MATCH"
                            ),
                        )
                    ),
                    visibility_config=visibility("rate-per-forwarded-ip"),
                ),
                self._managed_rules(
                    "aws-bad-inputs", 2, "AWSManagedRulesKnownBadInputsRuleSet", visibility
                ),
                self._managed_rules(
                    "aws-ip-reputation", 3, "AWSManagedRulesAmazonIpReputationList", visibility
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-common",
                    priority=4,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name="AWSManagedRulesCommonRuleSet",
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name="SizeRestrictions_BODY",
                                    action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                                )
                            ],
                        )
                    ),
                    visibility_config=visibility("aws-common"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )
        # WAF logs to a group whose name starts with aws-waf-logs- (WAF's rule), with the
        # caller's token redacted.
        log_name = f"aws-waf-logs-imgrec-{config.name}-api"
        logs.LogGroup(
            self,
            "WafLogs",
            log_group_name=log_name,
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        stack = Stack.of(self)
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(
                    single_header={"Name": "authorization"}
                )
            ],
        ).node.add_dependency(self.node.find_child("WafLogs"))
        return acl

    @staticmethod
    def _managed_rules(
        name: str, priority: int, group: str, visibility: Any
    ) -> wafv2.CfnWebACL.RuleProperty:
        """An AWS managed rule group, blocking as AWS defines it."""
        return wafv2.CfnWebACL.RuleProperty(
            name=name,
            priority=priority,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group
                )
            ),
            visibility_config=visibility(name),
        )
