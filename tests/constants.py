"""Test-only data shared by the test modules: the accounts the sites know."""

from __future__ import annotations

ALICE = ("alice@example.com", "wonderland")  # an account on site A
BOB = ("bob@example.com", "builder")  # an account on site C
FRANK = ("frank@example.com", "fr4nk")  # an account on the framework site F
