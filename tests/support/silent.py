"""A loopback TCP listener that accepts every connection and never answers: a frozen peer.

Unlike a closed port (refused at once) or a stopped server, a frozen one lets the client
connect and then leaves it waiting; only the client's own timeouts end the wait.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class SilentListener:
    """Accepts, reads and discards; holds every connection open until :meth:`stop`."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True, name="silent")

    def __enter__(self) -> SilentListener:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        return len(self._held)

    def _serve(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self._sock.accept()
                conn.setblocking(False)
                self._held.append(conn)
            for conn in self._held:
                with contextlib.suppress(OSError):
                    conn.recv(65536)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._sock.close()
