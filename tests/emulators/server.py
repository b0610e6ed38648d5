"""The common part of the provider emulators: a real HTTP server on loopback, robots, and what they saw."""

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# What nginx answers when the upstream it forwards to is unreachable.
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Delivered:
    """One message as the group sees it."""

    text: str  # everything visible, titles included: what keywords are checked against
    msgtype: str
    payload: dict[str, Any]
    mentions: list[str] = field(default_factory=list)  # mobiles or user ids whose @mention renders
    at_all: bool = False


@dataclass
class Received:
    """One HTTP request as it arrived, and the reply it got."""

    method: str
    path: str
    query: str  # raw, exactly as on the wire
    headers: dict[str, str]
    body: bytes
    remote_addr: str
    status: int = 0
    reply: str = ""


@dataclass
class Robot:
    """One robot in one group, with its security settings and the messages its group received."""

    token: str
    keywords: list[str] = field(default_factory=list)
    secret: str = ""
    allowed_ips: list[str] | None = None  # None: no IP allowlist
    per_minute: int = 20
    messages: list[Delivered] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    throttled_until: float = 0.0

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    def ip_refused(self, address: str) -> bool:
        return self.allowed_ips is not None and address not in self.allowed_ips

    def keyword_missing(self, text: str) -> bool:
        return bool(self.keywords) and not any(k in text for k in self.keywords)

    def recent(self, now: float, window: float) -> int:
        """How many messages were accepted within the last window seconds."""
        return sum(1 for t in self.accepted_at if now - window < t <= now)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Emulator:
    """A provider's robot API served on 127.0.0.1 from a thread of the test process."""

    skew = 3600.0  # seconds a signature's timestamp may differ from this server's clock

    def __init__(self) -> None:
        self.robots: dict[str, Robot] = {}
        self.requests: list[Received] = []
        self.clock: Callable[[], float] = time.time  # the provider's own clock; tests may set it
        self.down: tuple[int, str, str] | None = None  # (status, body, content type) answered to everything
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler)
        # A short poll keeps shutdown (each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.robot = self.add_robot()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def url(self) -> str:
        """The webhook address of the default robot."""
        return self.url_for(self.robot)

    def url_for(self, robot: Robot) -> str:
        raise NotImplementedError

    def new_token(self) -> str:
        return secrets.token_hex(16)

    def add_robot(self, token: str | None = None, **settings: Any) -> Robot:
        robot = Robot(token=token or self.new_token(), **settings)
        self.robots[robot.token] = robot
        return robot

    def take_down(self, status: int = 502, body: str = NGINX_502, content_type: str = "text/html") -> None:
        """Answer everything like a failing gateway (or server) until bring_up()."""
        self.down = (status, body, content_type)

    def bring_up(self) -> None:
        self.down = None

    def start(self) -> "Emulator":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[Delivered]:
        """Every message any robot of this emulator accepted."""
        return [m for robot in self.robots.values() for m in robot.messages]

    def _app(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        received = Received(
            method=request.method,
            path=request.path,
            query=environ.get("QUERY_STRING", ""),
            headers=dict(request.headers),
            body=request.get_data(),
            remote_addr=request.remote_addr or "",
        )
        # One request at a time: rate limits and records stay consistent under concurrent senders.
        with self._lock:
            response = self._reply_down() if self.down else self.handle(request, received)
            received.status = response.status_code
            received.reply = response.get_data(as_text=True)
            self.requests.append(received)
        return response(environ, start_response)

    def _reply_down(self) -> Response:
        status, body, content_type = self.down
        return Response(body, status=status, content_type=content_type)

    def handle(self, request: Request, received: Received) -> Response:
        raise NotImplementedError


def json_reply(document: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def parse_json(body: bytes) -> Any:
    """The body as JSON, or None when it is not JSON (providers answer that with their own code)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
