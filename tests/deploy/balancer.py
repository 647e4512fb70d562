"""nginx from Debian's packages as the load balancer in front of several replicas.

Started with its own configuration, prefix and temp directories in a test folder, listening
on a free loopback port only; it never touches the system nginx or its port.

Retry policy (the decision documented in the README, "Running at scale"):
``proxy_next_upstream error timeout http_502 http_503`` *without* ``non_idempotent``. nginx then
moves a POST to the next replica only while nothing has been sent yet -- a refused or failed
connect to a dead replica -- which is what routes around it. A POST already sent to a replica
that dies is answered 502 to the client instead of being replayed: feedback would be safe to
replay (it is idempotent), and hook calls are read-only, but with authentication on the replay
carries the same JWT, whose ``jti`` the first replica may already have recorded, and the
client would get a 401 instead of a retriable 502.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.deploy.processes import stop_process_group
from tests.support.server import free_loopback_port

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")

CONFIG = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 512; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    # The service's own limit is 5 MiB; keep bodies in memory.
    client_max_body_size 6m;
    client_body_buffer_size 6m;

    upstream cds {{
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://cds;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
            # Which replica answered: lets the test see traffic move and come back.
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def find_nginx() -> str | None:
    for candidate in NGINX_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Balancer:
    """One nginx master (and worker) process group."""

    prefix: Path
    upstreams: Sequence[int]
    binary: str
    port: int = field(default_factory=free_loopback_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        temp = self.prefix / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        # As root, nginx workers drop to "nobody"; keep them able to use the temp paths.
        temp.chmod(0o1777)
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
            for port in self.upstreams
        )
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        config = self.prefix / "nginx.conf"
        config.write_text(
            CONFIG.format(prefix=self.prefix, servers=servers, port=self.port, user=user),
            encoding="utf-8",
        )
        return config

    def start(self, wait_seconds: float = 15.0) -> None:
        config = self.write_config()
        check = subprocess.run(
            [self.binary, "-t", "-p", str(self.prefix), "-c", str(config)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stderr.decode()
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "stderr.log").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not start: {self.error_log()}")

    def stop(self) -> None:
        stop_process_group(self.process, signal.SIGQUIT)  # nginx's graceful shutdown

    def error_log(self) -> str:
        try:
            return (self.prefix / "error.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return "(no error log)"
