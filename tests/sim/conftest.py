"""The race-and-crash simulation: its support modules sit next to the tests that use them."""

from __future__ import annotations


