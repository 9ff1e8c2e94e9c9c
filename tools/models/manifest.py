"""The manifest builder of ``python -m tools.models manifest``.

The code lives in ``lambda/retraining/manifest.py``, so that the retraining
workflow's Lambda builds manifests with the same code; this module is its
command-line name.
"""

from retraining.manifest import (
    ATTRIBUTE,
    DEFAULT_CREATION_DATE,
    IMAGE_SUFFIXES,
    TRAINING_LIMITS,
    Labelled,
    ManifestError,
    ManifestResult,
    Skipped,
    collect,
    label_for,
    manifest_lines,
    scan_local,
    scan_s3,
    split,
    stable_split,
)

__all__ = [
    "ATTRIBUTE",
    "DEFAULT_CREATION_DATE",
    "IMAGE_SUFFIXES",
    "TRAINING_LIMITS",
    "Labelled",
    "ManifestError",
    "ManifestResult",
    "Skipped",
    "collect",
    "label_for",
    "manifest_lines",
    "scan_local",
    "scan_s3",
    "split",
    "stable_split",
]
