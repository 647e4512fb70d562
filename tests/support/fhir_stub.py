"""A tiny real FHIR server on loopback for fetch tests.

It serves ``Patient/{id}`` reads and ``{Type}?patient={id}`` searches from a list of
resources, pages search results with absolute ``next`` links, and records every request
(path and ``Authorization`` header) so tests can assert what the service sent - or that it
sent nothing at all. Failure modes (error status, redirect, slow answer, oversized body,
foreign ``next`` link) are switched per resource type.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received."""

    path: str
    authorization: str | None


@dataclass
class FhirStub:
    """Configuration and record of a running stub; ``base_url`` ends in ``/fhir``."""

    resources: list[dict[str, Any]]
    page_size: int = 50
    requests: list[RecordedRequest] = field(default_factory=list)
    status_by_type: dict[str, int] = field(default_factory=dict)
    redirect_types: set[str] = field(default_factory=set)
    delay_by_type: dict[str, float] = field(default_factory=dict)
    padding_by_type: dict[str, int] = field(default_factory=dict)
    foreign_next_types: set[str] = field(default_factory=set)
    # Where "foreign" next links point: loopback, another port (nothing listens on 9), so a
    # broken guard could never send test traffic off the machine.
    foreign_base_url: str = "http://127.0.0.1:9/fhir"
    base_url: str = ""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def recorded(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- answers ---------------------------------------------------------------------

    def _for_patient(self, kind: str, patient_id: str) -> list[dict[str, Any]]:
        wanted = f"Patient/{patient_id}"
        found = []
        for resource in self.resources:
            if resource.get("resourceType") != kind:
                continue
            refs = [resource.get("subject"), resource.get("patient")]
            if any(isinstance(ref, dict) and ref.get("reference") == wanted for ref in refs):
                found.append(resource)
        return found

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for ``path`` (path and query, below the server root)."""
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2 or segments[0] != "fhir":
            return 404, {}, b"{}"
        kind = segments[1]
        if kind in self.delay_by_type:
            time.sleep(self.delay_by_type[kind])
        if kind in self.status_by_type:
            return self.status_by_type[kind], {}, b'{"resourceType":"OperationOutcome"}'
        if kind in self.redirect_types:
            return 302, {"Location": f"{self.base_url}/elsewhere"}, b""
        if len(segments) == 3:
            for resource in self.resources:
                if resource.get("resourceType") == kind and resource.get("id") == segments[2]:
                    return 200, {}, json.dumps(resource).encode()
            return 404, {}, b'{"resourceType":"OperationOutcome"}'
        query = parse_qs(parts.query)
        patient = (query.get("patient") or [""])[0]
        offset = int((query.get("_offset") or ["0"])[0])
        matches = self._for_patient(kind, patient)
        page = matches[offset : offset + self.page_size]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [{"resource": resource} for resource in page],
        }
        if offset + self.page_size < len(matches):
            foreign = kind in self.foreign_next_types
            root = self.foreign_base_url if foreign else self.base_url
            bundle["link"] = [
                {
                    "relation": "next",
                    "url": f"{root}/{kind}?patient={patient}&_offset={offset + self.page_size}",
                }
            ]
        if kind in self.padding_by_type:
            bundle["padding"] = "x" * self.padding_by_type[kind]
        return 200, {}, json.dumps(bundle).encode()


def start_fhir_stub(resources: Iterable[dict[str, Any]], **options: Any) -> FhirStub:
    """Start a stub on a free 127.0.0.1 port; call ``stop()`` when done."""
    stub = FhirStub(resources=list(resources), **options)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stub.record(RecordedRequest(self.path, self.headers.get("Authorization")))
            status, headers, body = stub.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub._server = server
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    stub._thread = threading.Thread(target=server.serve_forever, daemon=True, name="fhir-stub")
    stub._thread.start()
    return stub
