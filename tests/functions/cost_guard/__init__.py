"""Tests of functions/cost_guard."""
