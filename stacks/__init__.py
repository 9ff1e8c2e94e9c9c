"""The CDK app's stacks and constructs, in folders matching what a user deploys.

* ``data/``: the ``<Stage>-Data`` stack (buckets, tables, Rekognition project and
  collection, Cognito) and its constructs;
* ``service/``: the ``<Stage>-Service`` stack (API and functions, IoT rules, cost
  guard, retraining, analytics);
* ``web/``: the ``<Stage>-Web`` stack (the quick-test page on CloudFront);
* ``checks/``: cdk-nag and Guard, with the acknowledged findings and their reasons;
* ``building_blocks``: Lambda defaults, private bucket, public client, KMS grants;
* ``config``, ``stage``, ``delivery``: the typed stage config, a stage's stacks,
  the pipeline.

The storage layout (prefixes, index names, routes) is defined once in
``lambda/shared``, which the functions import too; ``lambda/`` is put on the
import path here so the stacks read the same constants.
"""

from __future__ import annotations

import sys
from pathlib import Path

_LAMBDA = str(Path(__file__).resolve().parent.parent / "lambda")
if _LAMBDA not in sys.path:
    sys.path.insert(0, _LAMBDA)
