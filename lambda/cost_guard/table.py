"""Keys of the model usage table shared by the cost guard, the inference API and the model tools.

Kept free of imports so the inference API's cold start does not load the
cost guard's policy (:mod:`cost_guard.usage_store` describes the items).
"""

ACTIVE_POINTER_KEY = "active"
"""Partition key of the item whose ``active_project_version_arn`` names the promoted version."""
