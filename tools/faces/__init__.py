"""``python -m tools.faces``: people in the stage's face collection (enroll, list, remove,
migrate); :mod:`tools.faces.people` has the rules."""
