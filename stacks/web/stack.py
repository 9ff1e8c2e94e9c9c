"""``<Stage>-Web``: the phone quick-test page.

Deployed after ``<Stage>-Data`` and ``<Stage>-Service`` and reading both:
the page's ``config.json`` carries the user pool and this stack's app
client; the API is reached through the same distribution (``/v1/*``).
Holds nothing that cannot be destroyed and redeployed.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from stacks.building_blocks import RETENTION
from stacks.config import ConfigError, StageConfig
from stacks.data.stack import DataStack
from stacks.service.stack import ServiceStack
from stacks.web.site import (
    API_PATH_PATTERN,
    NO_CLOUDFRONT_LOGS_REGIONS,
    Login,
    Site,
    UploadsCors,
)


class WebStack(Stack):
    """The quick-test page of one stage.

    :ivar site: bucket, distribution and deployment (:class:`stacks.web.site.Site`).
    :ivar login: managed-login domain and app client (:class:`stacks.web.site.Login`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataStack,
        service: ServiceStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Phone image recognition, stage {config.name}: quick-test page",
            **kwargs,
        )
        if config.region in NO_CLOUDFRONT_LOGS_REGIONS:
            raise ConfigError(
                f"stages.{config.name}.region: got {config.region!r}; the quick-test page's "
                "CloudFront logs cannot be delivered to buckets there; use another region, "
                "such as ap-southeast-1 or eu-central-1"
            )
        retention = RETENTION[config.log_retention_days]
        user_pool = data.identity.user_pool
        self.site = Site(
            self,
            "Site",
            api=service.inference_api.api,
            api_stage_name=config.name,  # InferenceApi's stage is named after the stage
            uploads=data.storage.uploads,
            training=data.storage.training,
            log_retention_days=max(config.log_retention_days, 90),
            log_group_retention=retention,
            retain_logs=config.retain_data,
            web_acl_arn=config.edge_web_acl_arn,
        )
        local_pages = [f"{origin}/" for origin in config.allowed_web_origins]
        self.login = Login(
            self,
            "Login",
            user_pool=user_pool,
            domain_prefix=config.login_domain_prefix
            or f"imgrec-{config.name}-{config.account or Aws.ACCOUNT_ID}",
            callback_urls=[self.site.url, *local_pages],
        )
        page_origin = self.site.url.removesuffix("/")
        UploadsCors(
            self,
            "UploadsCors",
            bucket=data.storage.uploads,
            page_origin=page_origin,
            other_origins=config.allowed_web_origins,
            log_group_retention=retention,
        )
        self.site.deploy(
            {
                "stage": config.name,
                "region": Aws.REGION,
                "apiBase": API_PATH_PATTERN.removesuffix("/*"),
                "authority": f"https://cognito-idp.{Aws.REGION}.amazonaws.com/"
                f"{user_pool.user_pool_id}",
                "clientId": self.login.client.user_pool_client_id,
                "logoutEndpoint": f"{self.login.login_url}/logout",
                # object_detection: people draw boxes in "Is this right?".
                "projectType": config.project_type,
            }
        )
        outputs = {
            "SiteUrl": (self.site.url, "The quick-test page: open it on a phone"),
            "WebClientId": (
                self.login.client.user_pool_client_id,
                "Cognito app client of the page (code grant + PKCE)",
            ),
            "LoginUrl": (self.login.login_url, "Cognito managed login of the stage"),
            "DistributionId": (self.site.distribution.distribution_id, "CloudFront distribution"),
            "SiteBucketName": (self.site.bucket.bucket_name, "Bucket holding the built page"),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
