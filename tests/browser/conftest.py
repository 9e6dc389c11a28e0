"""A running PayLink (gunicorn API, gevent stream process, worker, beat) and headless Chromium.

Chromium is Debian's (`/usr/bin/chromium`, installed by `.ci/run` when missing), driven by
Playwright for Python; Playwright's own browser download is never used. Without Chromium
these tests skip and say why.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from standalone import services
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, TESTDATA, settings_env
from tests.e2e.conftest import Processes

CHROMIUM = "/usr/bin/chromium"
# Chromium's own background traffic would only hit this machine's closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# `make screenshots` refreshes the README's pictures in docs/; other runs keep theirs aside.
SCREENSHOTS = ROOT / "docs" if os.environ.get("PAYLINK_SCREENSHOTS") else TESTDATA / "screenshots"


@dataclass
class Stack:
    api: str
    stream: str
    other_origin: str
    unlisted_origin: str


class StaticSite:
    """A page on another origin (another port), as a separate frontend would be served."""

    def __init__(self, directory: Path) -> None:
        handler = partial(SimpleHTTPRequestHandler, directory=str(directory))
        handler.log_message = lambda *args: None  # type: ignore[method-assign]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port

    def stop(self) -> None:
        self.server.shutdown()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="package")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's chromium package "
            "(.ci/run does so when it runs as root)"
        )
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("Playwright for Python is not installed (requirements-dev.txt)")
    return CHROMIUM


@pytest.fixture(scope="package")
def stack(settings, runtime, tmp_path_factory) -> Iterator[Stack]:
    from shared.users import ensure_admin

    ensure_admin(runtime.db, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    api_port, stream_port = services.free_port(), services.free_port()
    site_dir = tmp_path_factory.mktemp("site")
    (site_dir / "index.html").write_text("<!doctype html><title>another shop</title>")
    listed, unlisted = StaticSite(site_dir), StaticSite(site_dir)
    api = f"http://127.0.0.1:{api_port}"
    # "localhost" makes the other sites other origins even on the same machine.
    other_origin = f"http://localhost:{listed.port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VTPASS_", "PAYLINK_"))},
        **settings_env(settings),
        "PYTHONUNBUFFERED": "1",
        "PORT": str(api_port),
        "PAYLINK_ADMIN_EMAIL": ADMIN_EMAIL,
        "PAYLINK_STREAM_URL": f"http://127.0.0.1:{stream_port}",
        "PAYLINK_CORS_ORIGINS": f"{api},{other_origin}",
        "PAYLINK_RATE_LIMIT_DEFAULT": "100000/minute",
        "PAYLINK_RATE_LIMIT_AUTH": "100000/minute",
        "PAYLINK_RATE_LIMIT_PURCHASES": "100000/minute",
    }
    logdir = tmp_path_factory.mktemp("browser-stack")
    procs = Processes(env, logdir)
    procs.start_worker()
    procs.start_beat()
    procs._spawn("api", services.api_command(port=api_port))
    procs._spawn("streams", services.stream_command(port=stream_port))
    try:
        services.wait_until(lambda: _answers(api + "/healthz"), timeout=60, what="API start")
        services.wait_until(
            lambda: _answers(f"http://127.0.0.1:{stream_port}/healthz"),
            timeout=60,
            what="stream process start",
        )
        yield Stack(api, f"http://127.0.0.1:{stream_port}", other_origin,
                    f"http://localhost:{unlisted.port}")  # fmt: skip
    finally:
        procs.stop_all()
        listed.stop()
        unlisted.stop()


@pytest.fixture(scope="package")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    """Keep a picture of the page (docs/<name>.png with `make screenshots`)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
