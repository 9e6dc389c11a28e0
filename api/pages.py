"""The browser pages the app serves: /demo (sandbox storefront) and /console (operators).

Their HTML, JavaScript and CSS live in `web/` and run as they are (no build step). The
storefront exists only in sandbox mode: in live mode /demo is a 404.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template

from api.deps import runtime
from shared.errors import NotFound

WEB = Path(__file__).resolve().parent.parent / "web"

bp = Blueprint(
    "pages",
    __name__,
    template_folder=str(WEB),
    static_folder=str(WEB / "static"),
    static_url_path="/static",
)


@bp.get("/demo")
def demo() -> str:
    """Show the sandbox storefront (sandbox mode only)."""
    settings = runtime().settings
    if not settings.sandbox:
        raise NotFound()
    return render_template("demo.html", stream_url=settings.stream_url)


@bp.get("/console")
def console() -> str:
    """Show the operator console."""
    return render_template("console.html")
