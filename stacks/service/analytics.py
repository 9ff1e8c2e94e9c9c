"""Analytics: a Glue table and Athena workgroup over the IoT archive, and a dashboard.

* Glue database ``imgrec_<stage>`` and table ``device_messages`` over
  ``s3://<archive>/iot/<kind>/dt=YYYY-MM-DD/`` (gzip JSON lines written by
  Firehose), partitioned by ``kind`` and ``dt`` with partition projection, so
  no crawler and no ``MSCK REPAIR`` is needed. The device is a column
  (``device_id``), not a partition: a projected device partition would have
  to be "injected", forcing every query to name one device.
* Athena workgroup ``imgrec-<stage>`` with SSE-S3 encrypted results under
  ``athena-results/`` in the archive bucket, enforced settings, a bytes-scanned
  limit per query (:data:`BYTES_SCANNED_CUTOFF`), and named queries.
* CloudWatch dashboard: API calls, latency and errors; the model running
  time and the cost guard's actions; topic rule matches and failures;
  feedback per label, the active model's agreement rate, retrainings and
  the F1 of each candidate against the active version.

QuickSight reads the same table: add Athena as a data source with workgroup
``imgrec-<stage>`` and pick ``imgrec_<stage>.device_messages``.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from shared.layout import IOT_ARCHIVE_PREFIX as ARCHIVE_PREFIX
from shared.layout import IOT_KINDS as KINDS

from stacks.building_blocks import METRICS_NAMESPACE

BYTES_SCANNED_CUTOFF = 10 * 1024**3
"""10 GiB per query (Athena bills USD 5 per TB scanned)."""
TABLE = "device_messages"

NAMED_QUERIES: dict[str, tuple[str, str]] = {
    "inferences-per-day-and-label": (
        "Inferences per day and label, from device events",
        """SELECT dt, label.name AS label, count(*) AS inferences
FROM device_messages
CROSS JOIN UNNEST(labels) AS t(label)
WHERE kind = 'events' AND type = 'inference'
GROUP BY dt, label.name
ORDER BY dt DESC, inferences DESC""",
    ),
    "isbns-per-day": (
        "Books (ISBNs) read per day by devices, from /v1/codes results",
        """SELECT dt, code.isbn13 AS isbn13, count(*) AS reads, count(DISTINCT device_id) AS devices
FROM device_messages
CROSS JOIN UNNEST(codes) AS t(code)
WHERE kind = 'events' AND type = 'codes' AND code.isbn13 IS NOT NULL
GROUP BY dt, code.isbn13
ORDER BY dt DESC, reads DESC""",
    ),
    "people-seen-per-day": (
        "People devices saw per day (every face of every photo, from /v1/faces/search)",
        """SELECT dt, face.person AS person, count(*) AS sightings,
       count(DISTINCT device_id) AS devices
FROM device_messages
CROSS JOIN UNNEST(faces) AS t(face)
WHERE kind = 'events' AND type = 'faces' AND face.status = 'matched'
GROUP BY dt, face.person
ORDER BY dt DESC, sightings DESC""",
    ),
    "faces-per-photo": (
        "Faces per photo, and how many were nobody registered",
        """SELECT dt, cardinality(faces) AS faces,
       cardinality(filter(faces, f -> f.status = 'unknown')) AS unknown,
       count(*) AS photos
FROM device_messages
WHERE kind = 'events' AND type = 'faces'
GROUP BY dt, cardinality(faces), cardinality(filter(faces, f -> f.status = 'unknown'))
ORDER BY dt DESC, faces""",
    ),
    "top-devices": (
        "Devices with the most messages over the last 7 days",
        """SELECT device_id, count(*) AS messages
FROM device_messages
WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
GROUP BY device_id
ORDER BY messages DESC
LIMIT 20""",
    ),
    "telemetry-hourly-averages": (
        "Average of each telemetry metric per device and hour",
        """SELECT device_id,
       date_trunc('hour', from_unixtime("timestamp" / 1000)) AS hour,
       metric,
       avg(value) AS average
FROM device_messages
CROSS JOIN UNNEST(metrics) AS m(metric, value)
WHERE kind = 'telemetry'
GROUP BY 1, 2, 3
ORDER BY hour DESC, device_id, metric""",
    ),
}


class Analytics(Construct):
    """Glue table, Athena workgroup and named queries, and the dashboard.

    :ivar database: the Glue database.
    :ivar table: the Glue table over the archive.
    :ivar workgroup: the Athena workgroup.
    :ivar dashboard: the CloudWatch dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        archive: s3.IBucket,
        api_name: str,
        rule_names: list[str],
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        database_name = f"imgrec_{stage}"
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=self._account(),
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description=f"Device messages of stage {stage}"
            ),
        )
        location = f"s3://{archive.bucket_name}/{ARCHIVE_PREFIX}/"
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=self._account(),
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE,
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "json",
                    "compressionType": "gzip",
                    "projection.enabled": "true",
                    "projection.kind.type": "enum",
                    "projection.kind.values": ",".join(KINDS),
                    "projection.dt.type": "date",
                    "projection.dt.format": "yyyy-MM-dd",
                    "projection.dt.range": "2026-01-01,NOW",
                    "projection.dt.interval": "1",
                    "projection.dt.interval.unit": "DAYS",
                    "storage.location.template": location + "${kind}/dt=${dt}/",
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name="kind", type="string"),
                    glue.CfnTable.ColumnProperty(name="dt", type="string"),
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        parameters={"ignore.malformed.json": "true"},
                    ),
                    columns=[
                        glue.CfnTable.ColumnProperty(name="device_id", type="string"),
                        glue.CfnTable.ColumnProperty(name="timestamp", type="bigint"),
                        glue.CfnTable.ColumnProperty(name="type", type="string"),
                        glue.CfnTable.ColumnProperty(name="level", type="string"),
                        glue.CfnTable.ColumnProperty(name="message", type="string"),
                        glue.CfnTable.ColumnProperty(name="model", type="string"),
                        glue.CfnTable.ColumnProperty(
                            name="labels", type="array<struct<name:string,confidence:double>>"
                        ),
                        glue.CfnTable.ColumnProperty(
                            name="codes",
                            type="array<struct<format:string,text:string,source:string,"
                            "isbn13:string,isbn10:string>>",
                        ),
                        glue.CfnTable.ColumnProperty(
                            name="faces",
                            type="array<struct<person:string,similarity:double,status:string,"
                            "box_left:double,box_top:double,box_width:double,box_height:double>>",
                        ),
                        glue.CfnTable.ColumnProperty(name="metrics", type="map<string,double>"),
                    ],
                ),
            ),
        )
        self.table.node.add_dependency(self.database)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"imgrec-{stage}",
            description=f"Device analytics of stage {stage}",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{archive.bucket_name}/athena-results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        for query_id, (description, sql) in NAMED_QUERIES.items():
            named = athena.CfnNamedQuery(
                self,
                f"Query-{query_id}",
                name=query_id,
                description=description,
                database=database_name,
                query_string=sql,
                work_group=self.workgroup.name,
            )
            named.node.add_dependency(self.workgroup)
        self.dashboard = self._dashboard(stage, api_name, rule_names)
        self._learning_widgets(stage, state_machine)

    def _learning_widgets(self, stage: str, state_machine: sfn.IStateMachine) -> None:
        """Feedback per label, the active model's agreement rate, retrainings and their F1.

        Feedback metrics carry a ``label`` dimension (one series per label, found
        with a SEARCH expression, so new labels appear without a redeploy).
        """
        day = Duration.days(1)
        api_service = f"inference-api-{stage}"

        def search(metric: str) -> str:
            return (
                f'SEARCH(\'{{{METRICS_NAMESPACE},label,service}} MetricName="{metric}" '
                f"service=\"{api_service}\"', 'Sum', 86400)"
            )

        per_label = cloudwatch.MathExpression(expression=search("Feedback"), label="", period=day)
        agreement = cloudwatch.MathExpression(
            expression="100 * SUM(agreed) / SUM(total)",
            using_metrics={
                "agreed": cloudwatch.MathExpression(
                    expression=search("FeedbackAgreed"), period=day
                ),
                "total": cloudwatch.MathExpression(expression=search("Feedback"), period=day),
            },
            label="answers people agreed with (%)",
            period=day,
        )

        def retraining(metric: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric,
                dimensions_map={"service": f"retraining-{stage}"},
                statistic="Maximum",
                period=day,
            )

        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Feedback per label (daily)", left=[per_label]),
            cloudwatch.GraphWidget(
                title="Agreement with the active model (%)",
                left=[agreement],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
            ),
            cloudwatch.GraphWidget(
                title="Retrainings",
                left=[
                    state_machine.metric_succeeded(period=day, label="succeeded"),
                    state_machine.metric_failed(period=day, label="failed"),
                    state_machine.metric_started(period=day, label="started"),
                ],
                right=[retraining("CandidateF1"), retraining("ActiveF1")],
                right_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            ),
        )

    @staticmethod
    def _account() -> str:
        return Aws.ACCOUNT_ID

    def _dashboard(self, stage: str, api_name: str, rule_names: list[str]) -> cloudwatch.Dashboard:
        period = Duration.minutes(5)

        def api(metric: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric,
                dimensions_map={"ApiName": api_name, "Stage": stage},
                statistic=statistic,
                period=period,
            )

        def guard(metric: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric,
                dimensions_map={"service": f"cost-guard-{stage}"},
                statistic=statistic,
                period=period,
            )

        def rules(metric: str) -> list[cloudwatch.IMetric]:
            return [
                cloudwatch.Metric(
                    namespace="AWS/IoT",
                    metric_name=metric,
                    dimensions_map={"RuleName": name},
                    statistic="Sum",
                    period=period,
                    label=f"{name} {metric}",
                )
                for name in rule_names
            ]

        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"imgrec-{stage}")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="API calls", left=[api("Count", "Sum")]),
            cloudwatch.GraphWidget(
                title="API latency (ms)", left=[api("Latency", "p50"), api("Latency", "p90")]
            ),
            cloudwatch.GraphWidget(
                title="API errors", left=[api("4XXError", "Sum"), api("5XXError", "Sum")]
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Model unit-hours today (max over running versions)",
                left=[guard("MaxUnitHoursToday", "Maximum")],
            ),
            cloudwatch.GraphWidget(
                title="Cost guard actions",
                left=[
                    guard("ModelsStopped", "Sum"),
                    guard("ModelsStarted", "Sum"),
                    guard("ModelErrors", "Sum"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Topic rules", left=rules("TopicMatch"), right=rules("Failure")
            ),
        )
        return dashboard
