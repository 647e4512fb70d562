"""Loopback listeners that prove whether the service connected somewhere.

:class:`ConnectionRecorder` is a plain socket server: it records every accepted connection
(and the first bytes sent) and answers nothing useful, so a test can assert that the service
never opened a connection to it. :class:`RedirectServer` is an "allowed" stand-in FHIR
server that answers every request with a redirect or a foreign ``next`` link.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ConnectionRecorder:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[bytes] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ConnectionRecorder:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        sock.settimeout(0.05)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name="recorder")
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.5)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                with self._lock:
                    self.received.append(data)
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 500 Recorded\r\nContent-Length: 0\r\n\r\n")

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.received)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()


class _Handler(BaseHTTPRequestHandler):
    server: RedirectServer

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.server.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", self.server.target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [],
            "link": [{"relation": "next", "url": f"{self.server.target}{self.path}&page=2"}],
        }
        if "/Patient/" in self.path:
            bundle = {"resourceType": "Patient", "id": "p1"}
        body = json.dumps(bundle).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class RedirectServer(ThreadingHTTPServer):
    """Allowed stand-in: ``mode`` "redirect" (302 to ``target``) or "next" (foreign next link)."""

    daemon_threads = True

    def __init__(self, target: str, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.mode = mode
        self.paths: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fhir"

    def start(self) -> RedirectServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
