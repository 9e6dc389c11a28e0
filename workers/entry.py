"""The worker and beat entry point: `celery -A workers.entry worker` / `beat`."""

from api import create_app
from workers import tasks, webhook_tasks  # noqa: F401  (registers the tasks with Celery)

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
