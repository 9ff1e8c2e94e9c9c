"""Tests of integ."""
