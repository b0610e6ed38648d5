"""Real intranet parts for the tests: Debian's nginx as the gateway, Debian's tinyproxy as the outbound proxy.

Each runs as a child process on a free loopback port, with its configuration, logs and pid file in a test's
own folder, and is stopped by its fixture.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.smtp_server import HOST, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
START_SECONDS = 10


def _require(binary: str, package: str) -> None:
    if not Path(binary).exists():
        raise RuntimeError(
            f"{package} is not installed: `make debs` (or apt-get install {package}) installs it"
        )


def _wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    """Return once the port accepts connections; fail with the server's log if it died or never listened."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{_read(log)}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port} within {START_SECONDS} s:\n{_read(log)}")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class Nginx:
    """An nginx gateway on 127.0.0.1:<port> whose server { } holds the location blocks it is started with."""

    def __init__(self, folder: Path):
        _require(NGINX, "nginx")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = folder / "nginx.conf"
        self.error_log = folder / "error.log"
        self.access_log = folder / "access.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def config(self, locations: str) -> str:
        """A whole nginx.conf around the location blocks; every path in the test's folder."""
        # As root nginx would switch its workers to "nobody", who may not read the test's folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"    {name}_temp_path {self.folder / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"{user}worker_processes 1;\n"
            f"pid {self.folder / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log {self.access_log};\n"
            f"{temp}\n"
            "    server {\n"
            f"        listen {HOST}:{self.port};\n"
            "        server_name gateway.intra;\n"
            f"{locations}\n"
            "    }\n"
            "}\n"
        )

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.folder), "-c", str(self.conf), "-e", str(self.error_log), *extra]

    def start(self, locations: str) -> "Nginx":
        self.conf.write_text(self.config(locations))
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(self.port, self.process, self.error_log)
        return self

    def stop(self) -> None:
        _stop(self.process)

    @property
    def errors(self) -> str:
        return _read(self.error_log)

    @property
    def access(self) -> str:
        return _read(self.access_log)


class Tinyproxy:
    """A forward proxy on 127.0.0.1:<port>, optionally asking for a login (its BasicAuth: 407 without)."""

    def __init__(self, folder: Path, login: tuple[str, str] | None = None):
        _require(TINYPROXY, "tinyproxy")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.login = login
        self.conf = folder / "tinyproxy.conf"
        self.log = folder / "tinyproxy.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def config(self) -> str:
        lines = [
            f"Port {self.port}",
            f"Listen {HOST}",
            "Timeout 5",
            f'LogFile "{self.log}"',
            "LogLevel Connect",
            f'PidFile "{self.folder / "tinyproxy.pid"}"',
            "MaxClients 20",
            f"Allow {HOST}",
        ]
        if self.login:
            lines.append(f"BasicAuth {self.login[0]} {self.login[1]}")
        return "\n".join(lines) + "\n"

    def start(self) -> "Tinyproxy":
        self.conf.write_text(self.config())
        self.process = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(self.port, self.process, self.log)
        return self

    def stop(self) -> None:
        _stop(self.process)

    @property
    def requests(self) -> list[str]:
        """The request lines the proxy logged, e.g. "GET http://127.0.0.1:4242/robot/send?... HTTP/1.1"."""
        marker = "Request (file descriptor"
        return [line.split("): ", 1)[1] for line in _read(self.log).splitlines() if marker in line]
