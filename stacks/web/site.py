"""The quick-test page's hosting, sign-in client and upload CORS.

Three constructs, composed by :class:`stacks.web.stack.WebStack`:

* :class:`Site`: a private S3 bucket behind CloudFront (origin access
  control, HTTPS only, security headers with a strict
  Content-Security-Policy, standard logging), the built page deployed into it
  with a ``config.json`` written at deploy time, and ``/v1/*`` routed to the
  stage's REST API, so the page calls the API on its own origin (no CORS, and
  no cycle between the API's origins and the distribution's domain);
* :class:`Login`: the user pool's managed-login domain and the page's own
  app client (authorization code + PKCE; the distribution's URL is a
  callback URL);
* :class:`UploadsCors`: the uploads bucket's CORS rules (the page PUTs
  photos there through presigned URLs), owned here because only this stack
  knows the distribution's domain.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.building_blocks import private_bucket, public_client
from stacks.web.headers import content_security_policy

PAGE_BUILD = Path(__file__).resolve().parents[2] / "assets" / "web" / "dist"
"""The Vite build of ``assets/web`` (``npm run build:web``; ``cdk synth`` runs it)."""

API_PATH_PATTERN = "/v1/*"
"""Requests CloudFront sends to the REST API (its stage is the origin path)."""

UPLOAD_CORS_MAX_AGE_SECONDS = 3000

NO_CLOUDFRONT_LOGS_REGIONS = frozenset({"af-south-1", "ap-east-1", "eu-south-1", "me-south-1"})
"""Regions whose buckets CloudFront standard logging cannot deliver to
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html)."""


class PageNotBuiltError(RuntimeError):
    """``assets/web/dist`` is missing: the page must be built before synth."""


class Site(Construct):
    """Bucket, distribution and deployment of the page.

    :ivar bucket: the private site bucket (reachable only through CloudFront).
    :ivar log_bucket: CloudFront standard logs and the site bucket's access logs
        (kept after the stack is deleted when ``retain_logs``).
    :ivar distribution: the CloudFront distribution.
    :ivar url: ``https://<distribution domain>/``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        api_stage_name: str,
        uploads: s3.IBucket,
        training: s3.IBucket,
        log_retention_days: int,
        log_group_retention: logs.RetentionDays,
        retain_logs: bool,
        web_acl_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (PAGE_BUILD / "index.html").is_file():
            raise PageNotBuiltError(
                f"{PAGE_BUILD} has no build of the quick-test page: run 'npm run build:web' "
                "(make synth and cdk synth do it for you)"
            )
        # CloudFront standard logging writes with object ACLs, so this bucket
        # keeps ACLs enabled for the bucket owner (BucketOwnerPreferred):
        # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html
        self.log_bucket = private_bucket(
            self,
            "Logs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-logs", expiration=Duration.days(log_retention_days))
            ],
            # Logs outlive the stack where the stage retains its data (prod).
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain_logs,
        )
        self.bucket = private_bucket(
            self,
            "Bucket",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="site-bucket/",
            # Deploys write whole files; an interrupted one leaves no parts behind.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        headers = self._security_headers(uploads, training)
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Quick-test page ({Aws.STACK_NAME})",
            # A CloudFront-scope web ACL lives in us-east-1 (docs/deploying.md, "The edge").
            web_acl_id=web_acl_arn,
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
            ),
            additional_behaviors={
                API_PATH_PATTERN: cloudfront.BehaviorOptions(
                    # /v1/labels -> <api>/<stage>/v1/labels
                    origin=origins.RestApiOrigin(api, origin_path=f"/{api_stage_name}"),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    # Every viewer header but Host (API Gateway needs its own
                    # Host); with caching disabled this forwards Authorization.
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=headers,
                )
            },
            # North America, Europe, Asia (incl. Japan), Middle East, Africa:
            # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/PriceClass.html
            price_class=cloudfront.PriceClass.PRICE_CLASS_200,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        self.url = f"https://{self.distribution.distribution_domain_name}/"
        self._log_group_retention = log_group_retention

    def _security_headers(
        self, uploads: s3.IBucket, training: s3.IBucket
    ) -> cloudfront.ResponseHeadersPolicy:
        region = Aws.REGION
        connect = [
            f"https://cognito-idp.{region}.amazonaws.com",
            f"https://*.auth.{region}.amazoncognito.com",
            # Presigned PUTs use virtual-hosted URLs, regional or global form.
            f"https://{uploads.bucket_name}.s3.{region}.amazonaws.com",
            f"https://{uploads.bucket_name}.s3.amazonaws.com",
        ]
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Quick-test page: CSP, HSTS, no framing, no sniffing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(
                        connect,
                        upgrade_insecure=True,
                        # The review queue shows presigned GETs of feedback photos.
                        image_sources=[
                            f"https://{training.bucket_name}.s3.{region}.amazonaws.com",
                            f"https://{training.bucket_name}.s3.amazonaws.com",
                        ],
                    ),
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365),
                    include_subdomains=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value="camera=(), microphone=(), geolocation=(), payment=()",
                        override=True,
                    )
                ]
            ),
        )

    def deploy(self, config: dict[str, object]) -> s3deploy.BucketDeployment:
        """Upload the built page and ``config.json`` (tokens resolved at deploy time).

        Every object is ``Cache-Control: no-cache``: browsers revalidate (cheap
        ETag checks) and CloudFront's CachingOptimized policy keeps it for its
        1-second minimum TTL, so a redeploy shows at once without an
        invalidation (which would need ``cloudfront:CreateInvalidation`` on
        ``*`` in CDK's deployment role).
        """
        return s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[
                s3deploy.Source.asset(str(PAGE_BUILD)),
                s3deploy.Source.json_data("config.json", config),
            ],
            destination_bucket=self.bucket,
            cache_control=[s3deploy.CacheControl.no_cache()],
            memory_limit=256,
            log_group=logs.LogGroup(
                self,
                "DeploymentLogs",
                retention=self._log_group_retention,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )


class Login(Construct):
    """Managed login for the page: the pool's domain and the page's app client.

    :ivar domain: the user pool domain (managed login, version 2).
    :ivar client: the page's public app client (code grant + PKCE, no secret).
    :ivar login_url: ``https://<prefix>.auth.<region>.amazoncognito.com``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.IUserPool,
        domain_prefix: str,
        callback_urls: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        # A user pool has at most one Cognito-prefix domain; this is it.
        self.domain = cognito.UserPoolDomain(
            self,
            "Domain",
            user_pool=user_pool,
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        # Sessions of the test page end after a day; the phone app keeps 30.
        self.client = public_client(
            self,
            "Client",
            user_pool=user_pool,
            callback_urls=callback_urls,
            refresh_token_validity=Duration.days(1),
        )
        # Managed login (v2) shows a client's pages only once it has a style.
        cognito.CfnManagedLoginBranding(
            self,
            "Branding",
            user_pool_id=user_pool.user_pool_id,
            client_id=self.client.user_pool_client_id,
            use_cognito_provided_values=True,
        )
        self.login_url = self.domain.base_url()


class UploadsCors(Construct):
    """The uploads bucket's CORS: PUT from the page's origins only.

    S3 keeps one CORS configuration per bucket, written whole
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketCors.html);
    this construct is its only writer. On delete it leaves the stage's
    other origins (``allowed_web_origins``) in place, or none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        page_origin: str,
        other_origins: list[str],
        log_group_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)

        def put(origins_: list[str]) -> cr.AwsSdkCall:
            return cr.AwsSdkCall(
                service="S3",
                action="putBucketCors",
                parameters={
                    "Bucket": bucket.bucket_name,
                    "CORSConfiguration": {
                        "CORSRules": [
                            {
                                "AllowedMethods": ["PUT"],
                                "AllowedOrigins": origins_,
                                "AllowedHeaders": ["content-type"],
                                "MaxAgeSeconds": UPLOAD_CORS_MAX_AGE_SECONDS,
                            }
                        ]
                    },
                },
                physical_resource_id=cr.PhysicalResourceId.of(f"{construct_id}-cors"),
            )

        on_delete = (
            put(other_origins)
            if other_origins
            else cr.AwsSdkCall(
                service="S3",
                action="deleteBucketCors",
                parameters={"Bucket": bucket.bucket_name},
            )
        )
        cr.AwsCustomResource(
            self,
            "Rules",
            on_update=put([page_origin, *other_origins]),
            on_delete=on_delete,
            install_latest_aws_sdk=False,
            memory_size=256,
            # s3:PutBucketCORS also governs DeleteBucketCors:
            # https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketCors.html
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["s3:PutBucketCORS"], resources=[bucket.bucket_arn])]
            ),
            log_group=logs.LogGroup(
                self,
                "Logs",
                retention=log_group_retention,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
