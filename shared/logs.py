"""Logs you can follow: one configuration for every PayLink process (structlog over stdlib).

- Production writes one JSON object per line; development and standalone write readable
  console lines. Both go through the standard `logging` module, so library loggers (Celery,
  gunicorn, SQLAlchemy) come out in the same shape.
- Context travels in `contextvars`: the HTTP edge binds `request_id` (X-Request-ID), the
  worker binds `request_id`, `task_id` and `purchase_id` for each task, and the VTPass client
  binds `vtpass_request_id` for each call, so every line of one purchase's journey carries them.
- Secrets never: any field whose name looks secret is replaced by `***`, and the configured
  secret values are masked wherever they appear in a line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from shared.config import SECRET_FIELDS, Settings

SECRET_KEY = re.compile(
    r"password|passwd|secret|token|api[_-]?key|authorization|cookie|credential", re.I
)
MASK = "***"


class Redactor:
    """A structlog processor: secret-looking fields and known secret values never leave."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Short values would mask ordinary words; every real secret here is long.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if SECRET_KEY.search(key):
                event[key] = MASK
            elif isinstance(value, str):
                event[key] = self.mask(value)
        return event


def configure_logging(settings: Settings, *, stream: Any = None, json: bool | None = None) -> None:
    """Route every log record of this process through structlog's formatter."""
    json = settings.is_production if json is None else json
    secrets = [str(getattr(settings, name)) for name in SECRET_FIELDS]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_paylink", False)]:
        root.removeHandler(old)
    handler._paylink = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def bind(**values: Any) -> None:
    """Add values to the context every later line of this thread/task carries."""
    structlog.contextvars.bind_contextvars(**values)


def current() -> dict[str, Any]:
    """The context bound now (what a published task carries to its worker)."""
    return dict(structlog.contextvars.get_contextvars())


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind values for the duration of a block, then restore what was there."""
    with structlog.contextvars.bound_contextvars(**values):
        yield


def clear() -> None:
    structlog.contextvars.clear_contextvars()
