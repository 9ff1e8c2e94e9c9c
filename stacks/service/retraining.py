"""Retraining: a Step Functions (Standard) workflow from confirmed feedback to a promoted model.

States (``lambda/retraining/steps.py`` has each step's rules)::

    Preflight -> Enough feedback? --no--> Nothing to do (succeed)
        | yes
    PrepareData [-> RefreshIndex, again until complete; a failure is notified, not fatal]
        -> WaitForDatasets (1 min) -> StartTraining -> Datasets ready?
        (no: WaitForDatasets again)
        | yes
    WaitForTraining (poll_minutes) -> TrainingStatus -> Training done?
        TRAINING_IN_PROGRESS -> WaitForTraining; TRAINING_COMPLETED -> Evaluate;
        anything else -> NotifyTrainingFailed -> Failed
    Evaluate -> Better? --yes--> Promote -> NotifyPromoted -> Promoted (succeed)
                        --no---> NotifyNotPromoted -> Kept (succeed)

Every Lambda task retries Lambda's own transient errors and the steps'
``RetryableError`` (AWS throttling, 5xx, timeouts) with backoff, and
catches everything else into ``NotifyFailure`` (the cost guard's SNS topic:
error name and cause) then ``Failed``. The workflow refuses to run beside
another execution or a training of the project (``Preflight``).

Triggers: an EventBridge schedule (``retraining.schedule``), enabled only
when ``retraining.enabled`` (training is billed per hour); by hand:
``aws stepfunctions start-execution --state-machine-arn ARN --input '{"force": true}'``
(``force`` trains whatever the number of confirmed items).

IAM: each step's function gets only its own calls, on this stage's project,
its datasets and versions, the training bucket's prefixes it reads or
writes, the feedback table's status index and the model pointer; the state
machine may invoke those functions and publish to the topic.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from shared.layout import (
    DATASETS_PREFIX,
    FEEDBACK_BY_STATUS_INDEX,
    FEEDBACK_PREFIX,
    MANIFEST_PREFIX,
    REKOGNITION_OUTPUT_PREFIX,
)

from stacks.building_blocks import (
    RETENTION,
    dead_letter_queue,
    foundation_model_arn,
    python_function,
)
from stacks.config import RetrainingSettings, StageConfig
from stacks.data.recognition import Recognition
from stacks.data.vectors import PhotoIndex

RETRYABLE = ["RetryableError", "Lambda.TooManyRequestsException"]
"""Errors the workflow retries besides Lambda's service errors: the steps' transient AWS
failures (``retraining.steps.RetryableError``) and Lambda throttling the invocation
(https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html)."""
STEPS: dict[str, tuple[str, int, int]] = {
    # id: (handler, memory MB, timeout s)
    "Preflight": ("retraining.handler.preflight", 256, 60),
    "PrepareData": ("retraining.handler.prepare_data", 1024, 900),
    "StartTraining": ("retraining.handler.start_training", 256, 300),
    "TrainingStatus": ("retraining.handler.training_status", 256, 60),
    "Evaluate": ("retraining.handler.evaluate", 256, 120),
    "Promote": ("retraining.handler.promote", 256, 60),
    "RefreshIndex": ("retraining.handler.refresh_index", 1024, 900),
}
"""One function per step; PrepareData reads every training image's header (up to 15 min);
RefreshIndex (only with ``provisional.enabled``) embeds new photos, shrinking big ones."""


class Retraining(Construct):
    """The retraining workflow of one stage.

    :ivar state_machine: the Standard state machine (``imgrec-<stage>-retraining``).
    :ivar functions: the step functions by step id (:data:`STEPS`).
    :ivar schedule: the EventBridge rule (disabled unless ``retraining.enabled``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        recognition: Recognition,
        training: s3.IBucket,
        feedback: dynamodb.ITable,
        model_usage: dynamodb.ITable,
        topic: sns.ITopic,
        topic_key: kms.IKey,
        photo_index: PhotoIndex | None = None,
        native_layer: lambda_.ILayerVersion | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = config.retraining
        self.photo_index = photo_index
        stack = Stack.of(self)
        name = f"imgrec-{config.name}-retraining"
        state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        environment = {
            "PROJECT_ARN": recognition.project_arn,
            "TRAINING_BUCKET": training.bucket_name,
            "FEEDBACK_TABLE": feedback.table_name,
            "MODEL_USAGE_TABLE": model_usage.table_name,
            "STATE_MACHINE_ARN": state_machine_arn,
            "DATASET_PREFIX": settings.dataset_prefix,
            "MIN_CONFIRMED_ITEMS": str(settings.min_confirmed_items),
            "TEST_FRACTION": f"{settings.test_fraction:g}",
            "MAX_F1_DROP": f"{settings.max_f1_drop:g}",
            "MIN_F1": f"{settings.min_f1:g}",
            "PROJECT_TYPE": config.project_type,
            "BASE_MANIFEST": settings.base_manifest or "",
            "PHOTO_INDEX_ARN": photo_index.index_arn if photo_index is not None else "",
            "EMBEDDING_MODEL": config.provisional.embedding_model,
        }
        self.functions: dict[str, lambda_.Function] = {
            step: python_function(
                Construct(self, step),  # each step's function, role and logs under its name
                "Function",
                handler=handler,
                description=f"Retraining step {step} ({config.name})",
                service=f"retraining-{config.name}",
                log_retention_days=config.log_retention_days,
                memory_size=memory,
                timeout=Duration.seconds(timeout),
                environment=environment,
                # Pillow shrinks photos over the embedding model's pixels.
                extra_layers=[native_layer] if step == "RefreshIndex" and native_layer else (),
            )
            for step, (handler, memory, timeout) in STEPS.items()
            if step != "RefreshIndex" or photo_index is not None
        }
        self._grant(recognition, training, feedback, model_usage, state_machine_arn)
        if photo_index is not None:
            self._grant_index(config, photo_index, training, feedback)

        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(topic, settings)),
            timeout=Duration.days(3),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            comment="From confirmed feedback to a promoted model version",
        )
        # SnsPublish grants sns:Publish; an encrypted topic also needs its key.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[topic_key.key_arn]
            )
        )
        self.dead_letter_queue = dead_letter_queue(self, "ScheduleDeadLetters")
        alarm = cloudwatch.Alarm(
            self,
            "ScheduleDeadLetterMessages",
            alarm_description="The retraining schedule could not start the workflow",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5)
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        self.schedule = events.Rule(
            self,
            "Schedule",
            description=f"Retrain from confirmed feedback ({settings.schedule})",
            schedule=events.Schedule.expression(settings.schedule),
            enabled=settings.enabled,
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object({"force": False}),
                    retry_attempts=2,
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )

    def _task(
        self, step: str, payload: dict[str, object] | str, result_path: str
    ) -> tasks.LambdaInvoke:
        """A step's Lambda task: ``payload`` is an object or a JSON path of the state."""
        task = tasks.LambdaInvoke(
            self,
            f"{step}Task",
            state_name=step,
            lambda_function=self.functions[step],
            payload=sfn.TaskInput.from_json_path_at(payload)
            if isinstance(payload, str)
            else sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=True,
            result_path=result_path,
        )
        task.add_retry(
            errors=RETRYABLE,
            interval=Duration.seconds(30),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    def _publish(
        self, construct_id: str, topic: sns.ITopic, subject: str, message: dict[str, object]
    ) -> tasks.SnsPublish:
        """An SNS notification task; SNS throttling or a brief outage is retried."""
        task = tasks.SnsPublish(
            self,
            construct_id,
            topic=topic,
            subject=subject,
            message=sfn.TaskInput.from_object(message),
            result_path=sfn.JsonPath.DISCARD,
        )
        task.add_retry(interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return task

    def _definition(self, topic: sns.ITopic, settings: RetrainingSettings) -> sfn.IChainable:
        failed = sfn.Fail(self, "Failed", comment="a step failed; the topic was told why")
        notify_failure = self._publish(
            "NotifyFailure",
            topic,
            "Retraining failed",
            {
                "what": "The retraining workflow stopped at a failed step",
                "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "error": sfn.JsonPath.string_at("$.failure.Error"),
                "cause": sfn.JsonPath.string_at("$.failure.Cause"),
            },
        ).next(failed)

        def guarded(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
            task.add_catch(notify_failure, errors=["States.ALL"], result_path="$.failure")
            return task

        preflight = guarded(
            self._task(
                "Preflight",
                {
                    "execution_id": sfn.JsonPath.string_at("$$.Execution.Id"),
                    # The whole input: a start without "force" is no error.
                    "input": sfn.JsonPath.entire_payload,
                },
                "$.preflight",
            )
        )
        prepare = guarded(
            self._task(
                "PrepareData", {"run": sfn.JsonPath.string_at("$$.Execution.Name")}, "$.prepared"
            )
        )
        wait_datasets = sfn.Wait(
            self, "WaitForDatasets", time=sfn.WaitTime.duration(Duration.minutes(1))
        )
        after_prepare: sfn.IChainable = wait_datasets
        if self.photo_index is not None:
            refresh = self._task("RefreshIndex", {}, "$.index")
            # The index is for provisional answers: a failure is told, training goes on.
            index_failed = self._publish(
                "NotifyIndexFailed",
                topic,
                "Photo index not refreshed",
                {
                    "what": "The photo index could not take the new confirmed photos; "
                    "training goes on. Run 'python -m tools.models index' to retry",
                    "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                    "error": sfn.JsonPath.string_at("$.index_failure.Error"),
                    "cause": sfn.JsonPath.string_at("$.index_failure.Cause"),
                },
            )
            # Not even the notice went out: training still goes on (the index can wait).
            index_failed.add_catch(
                wait_datasets, errors=["States.ALL"], result_path="$.index_notice_failure"
            )
            refresh.add_catch(
                index_failed.next(wait_datasets),
                errors=["States.ALL"],
                result_path="$.index_failure",
            )
            after_prepare = refresh.next(
                sfn.Choice(self, "IndexComplete?")
                .when(sfn.Condition.boolean_equals("$.index.complete", False), refresh)
                .otherwise(wait_datasets)
            )
        start = guarded(self._task("StartTraining", "$.prepared", "$.training"))
        wait_training = sfn.Wait(
            self,
            "WaitForTraining",
            time=sfn.WaitTime.duration(Duration.minutes(settings.poll_minutes)),
        )
        status = guarded(
            self._task(
                "TrainingStatus",
                {"version_name": sfn.JsonPath.string_at("$.training.version_name")},
                "$.status",
            )
        )
        evaluate = guarded(
            self._task(
                "Evaluate",
                {"version_name": sfn.JsonPath.string_at("$.training.version_name")},
                "$.evaluation",
            )
        )
        promote = guarded(
            self._task(
                "Promote",
                {
                    "version_arn": sfn.JsonPath.string_at("$.training.version_arn"),
                    "evaluation": sfn.JsonPath.object_at("$.evaluation"),
                },
                "$.promoted",
            )
        )

        def publish(construct_id: str, subject: str, what: str) -> tasks.SnsPublish:
            task = self._publish(
                construct_id,
                topic,
                subject,
                {
                    "what": what,
                    "version": sfn.JsonPath.string_at("$.training.version_name"),
                    "reason": sfn.JsonPath.string_at("$.evaluation.reason"),
                    "per_label": sfn.JsonPath.string_at("$.evaluation.report"),
                },
            )
            task.add_catch(notify_failure, errors=["States.ALL"], result_path="$.failure")
            return task

        training_failed = self._publish(
            "NotifyTrainingFailed",
            topic,
            "Retraining: training failed",
            {
                "what": "Rekognition did not complete the training",
                "version": sfn.JsonPath.string_at("$.training.version_name"),
                "status": sfn.JsonPath.string_at("$.status.status"),
                "message": sfn.JsonPath.string_at("$.status.message"),
            },
        )
        training_failed.add_catch(notify_failure, errors=["States.ALL"], result_path="$.failure")
        training_failed.next(failed)

        promoted = publish(
            "NotifyPromoted", "Retraining: new version promoted", "A retrained version is active"
        ).next(sfn.Succeed(self, "Promoted"))
        kept = publish(
            "NotifyNotPromoted",
            "Retraining: new version not promoted",
            "The retrained version was not better; the active version stays",
        ).next(sfn.Succeed(self, "Kept"))

        # WaitForDatasets -> StartTraining -> DatasetsReady? ... (its own loop target)
        datasets_flow = wait_datasets.next(start).next(
            sfn.Choice(self, "DatasetsReady?")
            .when(
                sfn.Condition.boolean_equals("$.training.ready", True),
                wait_training.next(status).next(
                    sfn.Choice(self, "TrainingDone?")
                    .when(
                        sfn.Condition.string_equals("$.status.status", "TRAINING_IN_PROGRESS"),
                        wait_training,
                    )
                    .when(
                        sfn.Condition.string_equals("$.status.status", "TRAINING_COMPLETED"),
                        evaluate.next(
                            sfn.Choice(self, "Better?")
                            .when(
                                sfn.Condition.boolean_equals("$.evaluation.promote", True),
                                promote.next(promoted),
                            )
                            .otherwise(kept)
                        ),
                    )
                    .otherwise(training_failed)
                ),
            )
            .otherwise(wait_datasets)
        )
        prepared = prepare.next(after_prepare if self.photo_index is not None else datasets_flow)
        return preflight.next(
            sfn.Choice(self, "EnoughFeedback?")
            .when(sfn.Condition.boolean_equals("$.preflight.train", True), prepared)
            .otherwise(sfn.Succeed(self, "NothingToDo", comment="too little feedback"))
        )

    def _grant_index(
        self,
        config: StageConfig,
        photo_index: PhotoIndex,
        training: s3.IBucket,
        feedback: dynamodb.ITable,
    ) -> None:
        """RefreshIndex: list and read the labelled photos, read confirmed feedback, embed
        with the one model, list/put/delete vectors of the one index."""
        from shared.embeddings import MODELS

        fn = self.functions["RefreshIndex"]
        model = MODELS[config.provisional.embedding_model]
        foundation_model = foundation_model_arn(self, model.model_id)
        for statement in (
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[training.bucket_arn],
                conditions={
                    "StringLike": {"s3:prefix": [f"{DATASETS_PREFIX}*", f"{FEEDBACK_PREFIX}*"]}
                },
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    training.arn_for_objects(f"{DATASETS_PREFIX}*"),
                    training.arn_for_objects(f"{FEEDBACK_PREFIX}*"),
                ],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[f"{feedback.table_arn}/index/{FEEDBACK_BY_STATUS_INDEX}"],
            ),
            iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[foundation_model]),
            iam.PolicyStatement(
                actions=[
                    "s3vectors:ListVectors",
                    "s3vectors:GetVectors",
                    "s3vectors:PutVectors",
                    "s3vectors:DeleteVectors",
                ],
                resources=[photo_index.index_arn],
            ),
        ):
            fn.add_to_role_policy(statement)

    def _grant(
        self,
        recognition: Recognition,
        training: s3.IBucket,
        feedback: dynamodb.ITable,
        model_usage: dynamodb.ITable,
        state_machine_arn: str,
    ) -> None:
        stack = Stack.of(self)
        project_name = recognition.project.project_name
        datasets = stack.format_arn(
            service="rekognition",
            resource="project",
            resource_name=f"{project_name}/dataset/*",
        )
        status_index = f"{feedback.table_arn}/index/{FEEDBACK_BY_STATUS_INDEX}"
        base = DATASETS_PREFIX  # every dataset_prefix is under it (config validates)

        def allow(step: str, actions: list[str], resources: list[str], **extra: object) -> None:
            self.functions[step].add_to_role_policy(
                iam.PolicyStatement(actions=actions, resources=resources, **extra)  # type: ignore[arg-type]
            )

        allow("Preflight", ["states:ListExecutions"], [state_machine_arn])
        for step in ("Preflight", "StartTraining", "TrainingStatus", "Evaluate"):
            allow(step, ["rekognition:DescribeProjectVersions"], [recognition.project_arn])
        for step in ("Preflight", "PrepareData", "StartTraining"):
            allow(step, ["dynamodb:Query"], [status_index])
        # PrepareData: list and read the base images and the feedback copies, write manifests,
        # replace the project's datasets (DescribeProjects has no resource type: '*').
        allow(
            "PrepareData",
            ["s3:ListBucket"],
            [training.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{base}*"]}},
        )
        allow(
            "PrepareData",
            ["s3:GetObject"],
            [training.arn_for_objects(f"{base}*"), training.arn_for_objects(f"{FEEDBACK_PREFIX}*")],
        )
        allow(
            "PrepareData",
            ["s3:PutObject", "s3:GetObject"],
            [training.arn_for_objects(f"{MANIFEST_PREFIX}*")],
        )
        allow("PrepareData", ["rekognition:DescribeProjects"], ["*"])
        allow("PrepareData", ["rekognition:CreateDataset"], [recognition.project_arn])
        allow("PrepareData", ["rekognition:DeleteDataset"], [datasets])
        allow("StartTraining", ["rekognition:DescribeDataset"], [datasets])
        allow("StartTraining", ["rekognition:CreateProjectVersion"], [recognition.project_arn])
        allow("StartTraining", ["dynamodb:UpdateItem"], [feedback.table_arn])
        allow(
            "Evaluate",
            ["s3:GetObject"],
            [training.arn_for_objects(f"{REKOGNITION_OUTPUT_PREFIX}*")],
        )
        for step in ("Evaluate", "Promote"):
            model_usage.grant(
                self.functions[step],
                "dynamodb:GetItem" if step == "Evaluate" else "dynamodb:PutItem",
            )
