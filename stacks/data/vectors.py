"""The photo index: an S3 Vectors bucket and index of the project's labelled photos.

Made only when the stage has ``provisional.enabled``: one vector per labelled
photo (``tools.models index`` and the retraining workflow write them), queried
by the labels function while the model is not RUNNING. CloudFormation has
native resources for both (``AWS::S3Vectors::VectorBucket``,
``AWS::S3Vectors::Index``); S3 Vectors bills stored vectors and queries, with
nothing running (https://aws.amazon.com/s3/pricing/).

The index's dimension and distance metric cannot change: choosing another
``provisional.embedding_model`` replaces the index (empty), and
``tools.models index`` fills it again.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3vectors as s3vectors
from constructs import Construct
from shared.embeddings import DISTANCE_METRIC, INDEX_NAME, NON_FILTERABLE_KEYS, EmbeddingModel


class PhotoIndex(Construct):
    """A vector bucket (SSE-S3 encrypted) holding the index :data:`INDEX_NAME`.

    :ivar bucket: the ``AWS::S3Vectors::VectorBucket``.
    :ivar index: the ``AWS::S3Vectors::Index`` (float32, cosine, ``model.dimension``).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, model: EmbeddingModel, retain_data: bool
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY
        self.bucket = s3vectors.CfnVectorBucket(
            self,
            "Bucket",
            encryption_configuration=s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(
                sse_type="AES256"
            ),
        )
        self.bucket.apply_removal_policy(removal)
        self.index = s3vectors.CfnIndex(
            self,
            "Index",
            vector_bucket_arn=self.bucket.attr_vector_bucket_arn,
            index_name=INDEX_NAME,
            data_type="float32",
            dimension=model.dimension,
            distance_metric=DISTANCE_METRIC,
            metadata_configuration=s3vectors.CfnIndex.MetadataConfigurationProperty(
                non_filterable_metadata_keys=list(NON_FILTERABLE_KEYS)
            ),
        )
        self.index.apply_removal_policy(removal)

    @property
    def index_arn(self) -> str:
        """``arn:aws:s3vectors:REGION:ACCOUNT:bucket/NAME/index/labelled-photos``."""
        return self.index.attr_index_arn
