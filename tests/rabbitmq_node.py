"""A RabbitMQ node of a test's own: its own name, ports, data directory, cookie and config.

The machine's shared RabbitMQ (127.0.0.1:5672) is never touched: this node reads none of
/etc/rabbitmq (its own empty env file and config), enables no plugins, keeps its data under a
temporary directory and can be stopped and started again on the same data (quorum queues
survive that). Readiness is an AMQP login that succeeds, polled with a deadline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import amqp

from standalone import services

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")
CTL_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmqctl", "/usr/sbin/rabbitmqctl")


class CannotStart(RuntimeError):
    """No private RabbitMQ here: the message says why."""


def _first(candidates: tuple[str, ...], name: str) -> str | None:
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


class RabbitNode:
    """One private RabbitMQ node; `start()` / `stop()` may be repeated on the same data."""

    def __init__(self, base: Path) -> None:
        server = _first(SERVER_CANDIDATES, "rabbitmq-server")
        ctl = _first(CTL_CANDIDATES, "rabbitmqctl")
        if server is None or ctl is None:
            raise CannotStart("rabbitmq-server / rabbitmqctl are not installed")
        self.server, self.ctl = server, ctl
        self.base = base
        self.port = services.free_port()
        self.nodename = f"paylink-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("home", "mnesia", "log"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            "disk_free_limit.absolute = 1MB\n"
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(base / "home"),  # the Erlang cookie lives here
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(services.free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def answers(self) -> bool:
        """Whether the node takes an AMQP login now."""
        try:
            connection = amqp.Connection(
                host=f"127.0.0.1:{self.port}",
                userid="guest",
                password="guest",
                virtual_host="/",
                connect_timeout=1,
            )
            connection.connect()
        except (OSError, amqp.exceptions.AMQPError):
            return False
        connection.close()
        return True

    def start(self, timeout: float = 120.0) -> None:
        log = open(self.base / "server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [self.server],
            cwd=self.base,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CannotStart(
                    f"rabbitmq-server exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self.answers():
                return
            time.sleep(0.2)
        self.kill()
        raise CannotStart(
            f"rabbitmq-server did not answer within {timeout:.0f}s: {self.log_tail()}"
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node the way an operator does; its data stays for the next `start()`."""
        if self.process is None:
            return
        subprocess.run(
            [self.ctl, "-n", self.nodename, "stop"],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, 9)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, chars: int = 600) -> str:
        path = self.base / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-chars:].strip()
