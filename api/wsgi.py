"""The WSGI entry point for gunicorn: `gunicorn api.wsgi:app`."""

from api import create_app
from shared.config import load_settings
from shared.logs import configure_logging

configure_logging(load_settings())
app = create_app()
