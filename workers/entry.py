"""The worker and beat entry point: `celery -A workers.entry worker` / `beat`."""

from api import create_app
from shared.config import load_settings
from shared.logs import configure_logging
from workers import tasks, webhook_tasks  # noqa: F401  (registers the tasks with Celery)

configure_logging(load_settings())
flask_app = create_app()
celery_app = flask_app.extensions["celery"]
