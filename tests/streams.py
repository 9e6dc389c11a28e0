"""Reading Server-Sent Events in tests: from a Flask test response or an HTTP response."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Received:
    id: str | None
    event: str | None
    data: Any


def parse_events(chunks: Iterable[bytes | str]) -> Iterator[Received | None]:
    """Yield each event of an SSE byte stream (None for a heartbeat comment)."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    fields.setdefault("comment", line)
                elif ":" in line:
                    name, value = line.split(":", 1)
                    fields[name] = value.removeprefix(" ")
            if "data" in fields:
                yield Received(fields.get("id"), fields.get("event"), json.loads(fields["data"]))
            elif "comment" in fields:
                yield None


class Collector:
    """Read a stream in a background thread, keeping every event it sends.

    `response` is a Flask test response (read unbuffered) or a `requests` response opened with
    `stream=True`. `stop()` makes the reader hang up at the next event or heartbeat, from its
    own thread, as a browser closing the page would.
    """

    def __init__(self, response: Any) -> None:
        self.events: list[Received] = []
        self.heartbeats = 0
        self.ended = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(response,), daemon=True)
        self._thread.start()

    def _read(self, response: Any) -> None:
        chunks = (
            response.iter_content(None) if hasattr(response, "iter_content") else response.response
        )
        try:
            for event in parse_events(chunks):
                if event is None:
                    self.heartbeats += 1
                else:
                    self.events.append(event)
                if self._stopping.is_set():
                    break
        except Exception:  # noqa: BLE001 - a dropped connection simply ends the stream
            pass
        finally:
            response.close()
            self.ended.set()

    def stop(self, timeout: float = 10) -> None:
        """Hang up and wait until the reader has."""
        self._stopping.set()
        assert self.ended.wait(timeout), "the stream did not end after hanging up"

    def statuses(self) -> list[str]:
        return [e.data["status"] for e in self.events]
