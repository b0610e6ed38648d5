"""Control over how requests reach an emulator: hold them (a robot that hangs), slow them, or serve it again.

`Door(emulator)` sits in front of a started emulator. `hold()` keeps the next requests waiting at the door;
`release(deliver=False)` answers them 504 without the emulator ever seeing them (the provider never got the
message, e.g. its sender died), `release(deliver=True)` lets them through. `delay` slows every request
outside the emulator's lock, so that concurrent senders overlap. `listen_on(emulator, port)` serves the
emulator on one more port: a server that was down comes back at its address.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from tests.emulators.server import Emulator


class Door:
    """A WSGI layer in front of an emulator's own application."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        server = emulator._server  # the emulator's werkzeug server: its app is what requests reach
        self._inner: Callable = server.app
        server.app = self
        self.delay = 0.0
        self.arrived = 0
        self._to_hold: int | None = 0  # how many of the next requests to hold; None: all of them
        self._held = 0
        self._verdict: bool | None = None  # None while holding; then deliver (True) or drop (False)
        self._changed = threading.Condition()

    def hold(self, count: int | None = None) -> None:
        """Hold the next `count` requests (all, when None) until release()."""
        with self._changed:
            self._to_hold, self._verdict = count, None

    def release(self, deliver: bool) -> None:
        """Let the held requests through, or drop them; hold no more."""
        with self._changed:
            self._to_hold, self._verdict = 0, deliver
            self._changed.notify_all()

    def wait_held(self, count: int = 1, timeout: float = 30) -> bool:
        """Wait until `count` requests are being held."""
        with self._changed:
            return self._changed.wait_for(lambda: self._held >= count, timeout)

    def wait_arrived(self, count: int, timeout: float = 30) -> bool:
        """Wait until `count` requests have come to the door."""
        with self._changed:
            return self._changed.wait_for(lambda: self.arrived >= count, timeout)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        with self._changed:
            self.arrived += 1
            held = self._to_hold is None or self._to_hold > 0
            if held:
                if self._to_hold is not None:
                    self._to_hold -= 1
                self._held += 1
            self._changed.notify_all()
            delay = self.delay
        if held:
            with self._changed:
                self._changed.wait_for(lambda: self._verdict is not None, timeout=120)
                self._held -= 1
                deliver = bool(self._verdict)
            if not deliver:
                return Response("held at the door, never delivered", status=504)(environ, start_response)
        if delay:
            threading.Event().wait(delay)
        return self._inner(environ, start_response)


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def listen_on(emulator: Emulator, port: int) -> Iterator[str]:
    """Serve the emulator on `port` too, until the block ends; yields the base URL there."""
    server = make_server("127.0.0.1", port, emulator._server.app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
