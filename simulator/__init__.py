"""VTPass sandbox simulator: a standalone test double, never imported by production code."""

from simulator.app import create_app

__all__ = ["create_app"]
