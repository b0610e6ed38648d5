"""A receiver of Herald's generic webhook that verifies signatures the way docs/webhook.md says."""

import hashlib
import hmac

from werkzeug.wrappers import Request, Response

from tests.emulators.server import Delivered, Emulator, Received, Robot, json_reply, parse_json

PATH = "/herald"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance: float) -> bool:
    """The receiver's check: a fresh timestamp and a matching HMAC-SHA256 over "timestamp." + body."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, f"sha256={expected}")


class WebhookReceiver(Emulator):
    """Accepts POSTs on /herald; with a secret set, refuses unsigned, forged or stale ones with 401."""

    skew = 300.0  # a receiver's choice; five minutes, as Stripe suggests
    status = 200  # what it answers to a good delivery; any 2xx means delivered

    def url_for(self, robot: Robot) -> str:
        return f"{self.base_url}{PATH}"

    @property
    def deliveries(self) -> list[Delivered]:
        return self.robot.messages

    def handle(self, request: Request, received: Received) -> Response:
        if request.path != PATH:
            return Response("Not Found", status=404, content_type="text/plain")
        if request.method != "POST":
            return Response("Method Not Allowed", status=405, content_type="text/plain")
        robot = self.robot
        if robot.secret and not verify(
            robot.secret,
            request.headers.get("X-Herald-Timestamp", ""),
            received.body,
            request.headers.get("X-Herald-Signature", ""),
            self.clock(),
            self.skew,
        ):
            return json_reply({"error": "invalid signature"}, status=401)
        document = parse_json(received.body)
        if not isinstance(document, dict):
            return json_reply({"error": "expected a JSON object"}, status=400)
        message = document.get("message") or {}
        text = f"{message.get('title', '')}\n{message.get('body', '')}"
        robot.messages.append(Delivered(text=text, msgtype=str(document.get("event")), payload=document))
        if self.status == 204:
            return Response(status=204)
        return json_reply({"ok": True}, status=self.status)
