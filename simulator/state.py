"""Per-app simulator state: configuration plus the ledger, kept in ``app.extensions``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app

from simulator.store import Ledger

EXTENSION_KEY = "vtpass_sim"
DEFAULTS: dict[str, object] = {
    "API_KEY": "sim-api-key",
    "PUBLIC_KEY": "PK_sim",
    "SECRET_KEY": "SK_sim",
    "LATENCY_MS": 0,
    "TIMEOUT_STALL_S": 90,
    "CALLBACK_URL": None,
    "DUPLICATE_GUARD_S": 30,
    "TZ": "Africa/Lagos",
    "INITIAL_BALANCE": 1_000_000,
}
# Keys POST /_sim/config may change at runtime.
RUNTIME_KEYS = ("LATENCY_MS", "TIMEOUT_STALL_S", "CALLBACK_URL", "DUPLICATE_GUARD_S")


@dataclass
class SimState:
    config: dict
    ledger: Ledger = field(init=False)
    tz: ZoneInfo = field(init=False)
    # Set by POST /_sim/release: every call stalled by charge_then_hang until then answers now.
    released: threading.Event = field(init=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.ledger = Ledger(Decimal(str(self.config["INITIAL_BALANCE"])))
        self.tz = ZoneInfo(str(self.config["TZ"]))

    def release_stalled(self) -> None:
        """End every stall in progress; later stalls wait on a fresh event."""
        released, self.released = self.released, threading.Event()
        released.set()


def build_config(overrides: dict | None) -> dict:
    """Merge overrides into the defaults, rejecting unknown keys."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown simulator config keys: {sorted(unknown)}")
    config = {**DEFAULTS, **overrides}
    config.update(validate_runtime({k: config[k] for k in RUNTIME_KEYS}))
    return config


def validate_runtime(values: dict) -> dict:
    """Check runtime-settable config values; return them normalised, raising ValueError."""
    clean: dict[str, object] = {}
    for key, value in values.items():
        if key not in RUNTIME_KEYS:
            raise ValueError(f"{key} cannot be set at runtime; settable: {list(RUNTIME_KEYS)}")
        if key == "CALLBACK_URL":
            if value is not None and not isinstance(value, str):
                raise ValueError("CALLBACK_URL must be a string or null")
            clean[key] = value or None
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{key} must be a number >= 0")
        else:
            clean[key] = value
    return clean


def current() -> SimState:
    """Return the simulator state of the current Flask app."""
    return current_app.extensions[EXTENSION_KEY]
