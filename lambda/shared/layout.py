"""The storage layout: bucket prefixes, index names and the reviewers' group.

Defined here once; the functions and the stacks (which grant on these
prefixes and create these indexes) both read them.

Uploads bucket:

* :data:`UPLOADS_PREFIX` ``users/<Cognito sub>/<uuid>.<ext>``: a phone's photos
  (the presigned PUTs of ``POST /v1/uploads``), expired by a lifecycle rule.

Training bucket:

* :data:`DATASETS_PREFIX` ``datasets/<name>/<label>/...``: labelled images
  (``tools.models upload``), one folder per label;
* :data:`FEEDBACK_PREFIX` ``feedback/<label>/<feedback id>.<ext>``: copies of
  photos people gave feedback on (:data:`UNSORTED` while no label is known);
* :data:`MANIFEST_PREFIX` ``manifests/retraining/<run>/``: the workflow's
  Ground Truth manifests;
* :data:`REKOGNITION_OUTPUT_PREFIX` ``rekognition-output/``: where Custom
  Labels writes training and evaluation output.

Archive bucket (IoT topic rules, Athena):

* :data:`IOT_ARCHIVE_PREFIX` ``iot/<kind>/...`` for each of :data:`IOT_KINDS`: what
  devices publish, written by the topic rules' Firehose streams;
* :data:`IOT_ERROR_PREFIX` ``iot-errors/``: what a rule action could not deliver.

Tables:

* :data:`FEEDBACK_BY_STATUS_INDEX`: the feedback table's index on ``status``
  then ``created_at`` (the review queue, the workflow's confirmed items).
"""

from __future__ import annotations

UPLOADS_PREFIX = "users/"
DATASETS_PREFIX = "datasets/"
FEEDBACK_PREFIX = "feedback/"
UNSORTED = "_unsorted"
"""Folder of queued answers with no label yet (a label cannot start with ``_``)."""
MANIFEST_PREFIX = "manifests/retraining/"
REKOGNITION_OUTPUT_PREFIX = "rekognition-output/"
FEEDBACK_BY_STATUS_INDEX = "by-status"
FACES_BY_PERSON_INDEX = "by-person"
"""The faces table's index on ``person_id`` (a person's enrolled faces)."""
IOT_KINDS = ("events", "telemetry")
"""What a device publishes (``.../events``, ``.../telemetry``): one rule and prefix each."""
IOT_ARCHIVE_PREFIX = "iot"
IOT_ERROR_PREFIX = "iot-errors"
REVIEWERS_GROUP = "reviewers"
"""The Cognito group whose members may review feedback (``GET/POST /v1/review``)."""


def user_prefix(user_id: str) -> str:
    """``users/<sub>/``: the one prefix of the uploads bucket a caller may use."""
    return f"{UPLOADS_PREFIX}{user_id}/"
