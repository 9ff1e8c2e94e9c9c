"""Identity: the Cognito user pool the phone signs in with.

Users are created by an administrator (no self sign-up unless the stage
asks), sign in with their e-mail address, need a strong password and a TOTP
second factor, and get Cognito's threat protection (the Plus feature plan)
in full-function mode, as cdk-nag's AwsSolutions-COG2/COG3 ask.

The app client is public (a phone or browser cannot keep a secret): it uses
SRP or the authorization-code grant with PKCE, never the implicit grant.

The group ``shared.layout.REVIEWERS_GROUP`` holds the people who review feedback
(``aws cognito-idp admin-add-user-to-group --group-name reviewers ...``);
its name reaches the API in the ID token's ``cognito:groups`` claim.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct
from shared.layout import REVIEWERS_GROUP

from stacks.building_blocks import public_client


class Identity(Construct):
    """User pool and phone app client.

    :ivar user_pool: the Cognito user pool.
    :ivar app_client: the public app client for the phone and web page.
    :ivar reviewers: the Cognito group of feedback reviewers.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        retain_data: bool,
        self_sign_up_enabled: bool,
        callback_urls: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{name_prefix}-users",
            self_sign_up_enabled=self_sign_up_enabled,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            # An e-mail change takes effect only once the new address is verified.
            keep_original=cognito.KeepOriginalAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=retain_data,
            removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
        )
        self.reviewers = cognito.CfnUserPoolGroup(
            self,
            "ReviewersGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=REVIEWERS_GROUP,
            description="May review feedback on the quick-test page (GET/POST /v1/review)",
        )
        self.app_client = public_client(
            self.user_pool,
            "PhoneClient",
            user_pool=self.user_pool,
            callback_urls=callback_urls,
            refresh_token_validity=Duration.days(30),
        )
