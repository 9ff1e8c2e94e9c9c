"""Cost guard: a scheduled Lambda that stops idle Custom Labels models.

Creates

* the guard function (``lambda/cost_guard``), run every
  ``schedule_period_minutes`` by an EventBridge rule whose target retries
  twice and then sends the event to a dead-letter queue, so a failed run is
  visible, not lost; reserved concurrency 1, so two runs never race;
* an SNS topic (encrypted with its own rotating KMS key, which CloudWatch
  alarms may use; SSL-only) for its actions and alarms, with an e-mail
  subscription when the stage names an address;
* alarms: the function's errors, per-model errors the function reported,
  messages in the dead-letter queue, and any running model whose unit-hours
  today exceed the daily cap (it should have been stopped).

Permissions: ``rekognition:DescribeProjectVersions`` on this project's ARN,
``rekognition:StartProjectVersion``/``StopProjectVersion`` on this
project's versions only, ``dynamodb:GetItem``/``UpdateItem`` on the model
usage table, ``sns:Publish`` on its topic and use of that topic's key.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.building_blocks import (
    METRICS_NAMESPACE,
    dead_letter_queue,
    limit_grants_to_aws_services,
    python_function,
)
from stacks.config import StageConfig
from stacks.data.recognition import Recognition


class CostGuard(Construct):
    """The scheduled stopper and its alarms.

    :ivar function: the guard Lambda function.
    :ivar rule: the EventBridge schedule.
    :ivar topic: SNS topic for actions and alarms.
    :ivar dead_letter_queue: failed invocations.
    :ivar alarms: the alarms, by name.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        recognition: Recognition,
        model_usage: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.service = f"cost-guard-{config.name}"
        self.topic_key = kms.Key(
            self,
            "TopicKey",
            description=f"Encrypts the cost guard topic ({config.name})",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets
        # them: the AWS managed aws/sns key cannot, hence a customer managed key.
        # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        limit_grants_to_aws_services(self.topic_key)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"Rekognition cost guard ({config.name})",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        if config.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.notification_email))
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetters")
        self.function = self._build_function(config, recognition, model_usage)
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Run the cost guard every {config.schedule_period_minutes} min",
            schedule=events.Schedule.rate(Duration.minutes(config.schedule_period_minutes)),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=2,
                    max_event_age=Duration.minutes(config.schedule_period_minutes),
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )
        self.alarms = self._build_alarms(config)

    def _build_function(
        self, config: StageConfig, recognition: Recognition, model_usage: dynamodb.ITable
    ) -> lambda_.Function:
        function = python_function(
            self,
            "Function",
            handler="cost_guard.handler.lambda_handler",
            description=f"Stops idle Rekognition Custom Labels models ({config.name})",
            service=self.service,
            log_retention_days=config.log_retention_days,
            memory_size=256,
            timeout=Duration.seconds(60),
            environment={
                "PROJECT_ARN": recognition.project_arn,
                "MODEL_USAGE_TABLE": model_usage.table_name,
                "TOPIC_ARN": self.topic.topic_arn,
                "POLICY_SETTINGS": json.dumps(config.policy_settings(), sort_keys=True),
            },
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=1,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["rekognition:DescribeProjectVersions"],
                resources=[recognition.project_arn],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["rekognition:StartProjectVersion", "rekognition:StopProjectVersion"],
                resources=[recognition.project_versions_arn_pattern],
            )
        )
        model_usage.grant(function, "dynamodb:GetItem", "dynamodb:UpdateItem")
        # What topic.grant_publish() grants, minus its kms:GenerateDataKey*
        # wildcard: SNS publishers need kms:GenerateDataKey and kms:Decrypt
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        iam.Grant.add_to_principal(
            grantee=function, actions=["sns:Publish"], resource_arns=[self.topic.topic_arn]
        )
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resource_arns=[self.topic_key.key_arn],
        )
        return function

    def _build_alarms(self, config: StageConfig) -> dict[str, cloudwatch.Alarm]:
        period = Duration.minutes(max(config.schedule_period_minutes, 5))

        def guard_metric(name: str, statistic: str) -> cloudwatch.Metric:
            """A metric the guard function emits (Powertools adds the service dimension)."""
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": self.service},
                statistic=statistic,
                period=period,
            )

        def alarm(
            construct_id: str,
            description: str,
            metric: cloudwatch.IMetric,
            threshold: float = 1,
            *,
            above: bool = False,
            evaluation_periods: int = 1,
        ) -> cloudwatch.Alarm:
            """An alarm that stays quiet when the metric has no data (nothing ran)."""
            return cloudwatch.Alarm(
                self,
                construct_id,
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
                if above
                else cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=evaluation_periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        dead_letters = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=period
        )
        alarms = {
            "GuardErrors": alarm(
                "FunctionErrors",
                "The cost guard failed: idle models may be running",
                self.function.metric_errors(period=period),
            ),
            "ModelErrors": alarm(
                "ModelErrors",
                "The cost guard could not stop or start a model version",
                guard_metric("ModelErrors", "Sum"),
            ),
            "DeadLetters": alarm(
                "DeadLetterMessages",
                "Cost guard runs failed after retries (see dead-letter queue)",
                dead_letters,
            ),
            "OverCap": alarm(
                "RunningOverDailyCap",
                f"A model ran more than the daily cap of {config.daily_unit_hour_cap:g} "
                "unit-hours today and is still running",
                guard_metric("MaxUnitHoursToday", "Maximum"),
                config.daily_unit_hour_cap,
                above=True,
                evaluation_periods=2,
            ),
        }
        for created in alarms.values():
            created.add_alarm_action(cw_actions.SnsAction(self.topic))
        return alarms
