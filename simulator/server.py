"""Threaded HTTP serving for the simulator, in the foreground or a background thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer

from simulator.app import create_app


class SimServer(ThreadedWSGIServer):
    """Thread-per-connection server with a listen backlog deep enough for bursts of ~200."""

    request_queue_size = 1024


@dataclass
class RunningSimulator:
    app: Flask
    server: SimServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Return the root URL, e.g. http://127.0.0.1:9911 (the VTPass base is url + '/api')."""
        return f"http://{self.server.host}:{self.server.port}"

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 0) -> SimServer:
    """Bind a threaded server for app (port 0 picks a free port)."""
    return SimServer(host, port, app)


def start_in_thread(
    config: dict | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Start a fresh simulator app on a background thread and return a handle to it."""
    app = create_app(config)
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="vtpass-simulator", daemon=True)
    thread.start()
    return RunningSimulator(app, server, thread)
