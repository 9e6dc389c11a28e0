"""Flask application factory for the VTPass sandbox simulator."""

from __future__ import annotations

from flask import Flask

from simulator import controls, vtpass
from simulator.state import EXTENSION_KEY, SimState, build_config


def create_app(config: dict | None = None) -> Flask:
    """Create a simulator app with its own ledger; config keys are listed in state.DEFAULTS."""
    app = Flask("vtpass_simulator")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = SimState(build_config(config))
    app.register_blueprint(vtpass.bp)
    app.register_blueprint(controls.bp)
    return app
