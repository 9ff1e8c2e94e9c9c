"""Tests of functions/inference_api."""
