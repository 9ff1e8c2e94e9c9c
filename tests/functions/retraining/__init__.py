"""Tests of functions/retraining."""
