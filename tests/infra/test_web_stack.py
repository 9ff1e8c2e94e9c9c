"""<Stage>-Web: private site bucket behind CloudFront, sign-in client, upload CORS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import build_app
from stacks.config import ConfigError
from stacks.web import site as web
from tests.conftest import Synth, cdk_json_context

# AWS managed CloudFront policies (ids are fixed by AWS):
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@pytest.fixture(scope="module")
def template(synth: Synth, stage: str) -> dict[str, Any]:
    return synth.template_json(f"{stage.capitalize()}-Web")


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def only(template: dict[str, Any], type_: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = [
        (k, v) for k, v in resources(template, type_).items() if k.startswith(prefix)
    ]
    return logical_id, resource["Properties"]


def distribution(template: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = only(template, "AWS::CloudFront::Distribution")[1][
        "DistributionConfig"
    ]
    return config


def test_site_bucket_is_private_and_read_only_by_this_distribution(
    template: dict[str, Any],
) -> None:
    bucket_id, bucket = only(template, "AWS::S3::Bucket", "SiteBucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "WebsiteConfiguration" not in bucket
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("SiteLogs")

    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    reads = [s for s in allows if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert len(reads) == 1
    assert reads[0]["Action"] == "s3:GetObject"
    source_arn = json.dumps(reads[0]["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert "SiteDistribution" in source_arn
    assert all(s.get("Principal") != "*" and s.get("Principal") != {"AWS": "*"} for s in allows)
    denies = [s for s in policy if s["Effect"] == "Deny"]
    assert {"aws:SecureTransport": "false"} in [s["Condition"].get("Bool") for s in denies]


def test_origin_access_control_signs_every_request_to_the_bucket(template: dict[str, Any]) -> None:
    _, oac = only(template, "AWS::CloudFront::OriginAccessControl")
    assert oac["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    assert oac["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert oac["OriginAccessControlConfig"]["SigningProtocol"] == "sigv4"
    s3_origins = [o for o in distribution(template)["Origins"] if "S3OriginConfig" in o]
    assert len(s3_origins) == 1
    assert "OriginAccessControlId" in s3_origins[0]
    assert s3_origins[0]["S3OriginConfig"] == {"OriginAccessIdentity": ""}, "no legacy OAI"


def test_https_only_for_the_page_and_the_api(template: dict[str, Any]) -> None:
    config = distribution(template)
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultRootObject"] == "index.html"
    [api] = config["CacheBehaviors"]
    assert api["PathPattern"] == "/v1/*"
    assert api["ViewerProtocolPolicy"] == "https-only"
    custom = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    assert [o["CustomOriginConfig"]["OriginProtocolPolicy"] for o in custom] == ["https-only"]


def test_api_behaviour_forwards_authorization_and_never_caches(
    template: dict[str, Any], stage: str
) -> None:
    config = distribution(template)
    [api] = config["CacheBehaviors"]
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert set(api["AllowedMethods"]) >= {"GET", "POST", "OPTIONS"}
    [origin] = [o for o in config["Origins"] if o["Id"] == api["TargetOriginId"]]
    assert origin["OriginPath"] == f"/{stage}"
    domain = json.dumps(origin["DomainName"])
    assert f"{stage.capitalize()}-Service" in domain
    assert "execute-api" in domain


def test_security_headers_on_every_response(template: dict[str, Any], stage: str) -> None:
    policy_id, policy = only(template, "AWS::CloudFront::ResponseHeadersPolicy")
    security = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = json.dumps(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "upgrade-insecure-requests",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert f"{stage.capitalize()}-Data" in csp, "connect-src names the stage's uploads bucket"
    img_src = csp.split("img-src", 1)[1].split(";", 1)[0]
    assert "StorageTraining" in img_src, "the review queue shows presigned training photos"
    assert "StorageTraining" not in csp.split("connect-src", 1)[1].split(";", 1)[0]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ContentTypeOptions"]["Override"] is True
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    config = distribution(template)
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert all(b["ResponseHeadersPolicyId"] == {"Ref": policy_id} for b in behaviours)


def test_standard_logging_to_a_private_bucket(template: dict[str, Any], stage: str) -> None:
    logging = distribution(template)["Logging"]
    assert logging["Prefix"] == "cloudfront/"
    logs_id, logs = only(template, "AWS::S3::Bucket", "SiteLogs")
    assert logging["Bucket"] == {"Fn::GetAtt": [logs_id, "RegionalDomainName"]}
    assert logs["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    # CloudFront's legacy standard logging delivers with ACLs.
    assert logs["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    retained = template["Resources"][logs_id]["DeletionPolicy"] == "Retain"
    assert retained is (stage == "prod")


def test_page_client_uses_code_flow_with_the_distribution_as_callback(
    template: dict[str, Any], stage: str
) -> None:
    _, client = only(template, "AWS::Cognito::UserPoolClient")
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["GenerateSecret"] is False
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email"}
    site = {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Fn::GetAtt": [only(template, "AWS::CloudFront::Distribution")[0], "DomainName"]},
                "/",
            ],
        ]
    }
    local = {"dev": ["http://localhost:5173/"], "prod": []}[stage]
    assert client["CallbackURLs"] == [site, *local]
    assert client["LogoutURLs"] == client["CallbackURLs"]
    assert "Data" in json.dumps(client["UserPoolId"])

    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    assert domain["ManagedLoginVersion"] == 2
    assert json.dumps(domain["Domain"]).startswith(f'{{"Fn::Join": ["", ["imgrec-{stage}-"')
    _, branding = only(template, "AWS::Cognito::ManagedLoginBranding")
    assert branding["UseCognitoProvidedValues"] is True


def test_uploads_cors_admits_the_page_and_the_configured_origins_only(
    template: dict[str, Any], stage: str
) -> None:
    _, cors = only(template, "Custom::AWS", "UploadsCors")
    create = json.dumps(cors["Create"])
    assert "putBucketCors" in create
    assert "SiteDistribution" in create
    assert ("http://localhost:5173" in create) is (stage == "dev")
    assert '\\"AllowedMethods\\":[\\"PUT\\"]' in create
    delete = json.dumps(cors["Delete"])
    assert "SiteDistribution" not in delete
    assert ("putBucketCors" if stage == "dev" else "deleteBucketCors") in delete

    [statements] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for k, p in resources(template, "AWS::IAM::Policy").items()
        if k.startswith("UploadsCors")
    ]
    assert [(s["Action"], json.dumps(s["Resource"])) for s in statements] == [
        ("s3:PutBucketCORS", json.dumps(statements[0]["Resource"]))
    ]
    assert "StorageUploads" in json.dumps(statements[0]["Resource"])
    assert "*" not in json.dumps(statements[0]["Resource"])


def test_data_stack_leaves_uploads_cors_to_the_web_stack(synth: Synth, stage: str) -> None:
    data = synth.template_json(f"{stage.capitalize()}-Data")
    uploads = [
        r["Properties"]
        for k, r in data["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket" and k.startswith("StorageUploads")
    ]
    assert len(uploads) == 1
    assert "CorsConfiguration" not in uploads[0]


def test_config_json_is_written_at_deploy_time_from_the_other_stacks(
    template: dict[str, Any], stage: str
) -> None:
    _, deployment = only(template, "Custom::CDKBucketDeployment")
    markers = json.dumps(deployment["SourceMarkers"])
    assert "cognito-idp." in markers
    assert f"{stage.capitalize()}-Data" in markers, "the user pool id"
    assert "LoginClient" in markers
    assert ".amazoncognito.com/logout" in markers
    assert deployment["SystemMetadata"] == {"cache-control": "no-cache"}
    assert deployment["Prune"] is True


def test_outputs(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) >= {
        "SiteUrl",
        "WebClientId",
        "LoginUrl",
        "DistributionId",
        "SiteBucketName",
    }


def test_missing_page_build_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(web, "PAGE_BUILD", tmp_path / "dist")
    app = cdk.App(context={**cdk_json_context(), "stage": "dev"}, outdir=str(tmp_path / "out"))
    with pytest.raises(web.PageNotBuiltError, match=r"run 'npm run build:web'"):
        build_app(app)


def test_region_cloudfront_cannot_log_to_is_a_config_error(tmp_path: Path) -> None:
    context = cdk_json_context()
    context["stages"]["dev"]["region"] = "ap-east-1"
    app = cdk.App(context={**context, "stage": "dev"}, outdir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"stages\.dev\.region: got 'ap-east-1'"):
        build_app(app)
