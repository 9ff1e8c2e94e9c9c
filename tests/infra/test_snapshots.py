"""JSON snapshots of every synthesized template.

A snapshot shows, in review, every change a code edit makes to a template.
What churns without meaning is masked: asset object keys (a hash of the
asset's content: Lambda code, the quick-test page's build) and the
CDKMetadata resource (a compressed list of the constructs used, which
changes with every CDK release). Refresh with
``make snapshot-update`` in the same change that explains why.

Fine-grained assertions in the other test modules guard what matters; a
snapshot alone would approve anything once refreshed.
"""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.matchers import path_type

from tests.conftest import Synth

# Lambda code and the page's build are named by their content's hash.
MASK_ASSET_KEYS = path_type(
    mapping={r"^(.*)\.S3Key$": (str,), r"^(.*)\.SourceObjectKeys\.\d+$": (str,)}, regex=True
)
STACKS = tuple(
    f"{stage}-{kind}" for kind in ("Data", "Service", "Web") for stage in ("Dev", "Prod")
)


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def without_churn(template: dict[str, Any]) -> dict[str, Any]:
    resources = {
        k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::CDK::Metadata"
    }
    conditions = {
        k: v for k, v in template.get("Conditions", {}).items() if k != "CDKMetadataAvailable"
    }
    cleaned = {**template, "Resources": resources}
    if conditions:
        cleaned["Conditions"] = conditions
    else:
        cleaned.pop("Conditions", None)
    return cleaned


@pytest.mark.parametrize("stack_name", STACKS)
def test_template_snapshot(synth: Synth, snapshot_json: SnapshotAssertion, stack_name: str) -> None:
    template = without_churn(synth.template_json(stack_name))

    assert template == snapshot_json(matcher=MASK_ASSET_KEYS)
