"""Feishu / Lark custom robot emulator: /open-apis/bot/v2/hook/TOKEN, code replies, signing in the body."""

import base64
import hashlib
import hmac
import json
import re
import uuid

from werkzeug.wrappers import Request, Response

from tests.emulators.server import Delivered, Emulator, Received, Robot, json_reply, parse_json

HOOK = re.compile(r"^/open-apis/bot/v2/hook/(?P<token>[^/]+)$")
MAX_BODY = 20 * 1024
SUCCESS = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
SIGN_FAIL = "sign match fail or timestamp is not within one hour from current time"


def reply(code: int, msg: str, status: int = 200) -> Response:
    return json_reply({"code": code, "data": {}, "msg": msg}, status=status)


def expected_sign(secret: str, timestamp: str) -> str:
    """The signature the server computes: key "timestamp\\nsecret", empty message, base64."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuEmulator(Emulator):
    """Checks the token, body size, JSON, msg_type, IP allowlist, signature and clock, keywords, rate limits.

    Lark is the same API on another host: the lark fixture is another instance of this class.
    """

    per_second = 5
    rate_reply = "11232"  # or "9499": Feishu has answered a rate limit both ways

    def new_token(self) -> str:
        return str(uuid.uuid4())

    def add_robot(self, token: str | None = None, **settings) -> Robot:
        settings.setdefault("per_minute", 100)
        return super().add_robot(token, **settings)

    def url_for(self, robot: Robot) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{robot.token}"

    def handle(self, request: Request, received: Received) -> Response:
        match = HOOK.match(request.path)
        if not match or request.method != "POST":
            return json_reply({"code": 99991201, "msg": "resource not find"}, status=404)
        if len(received.body) > MAX_BODY:
            return reply(9499, "Bad Request", status=400)
        payload = parse_json(received.body)
        if not isinstance(payload, dict):
            return reply(9499, "Bad Request", status=400)
        robot = self.robots.get(match["token"])
        if robot is None:
            return reply(19001, "param invalid: incoming webhook access token invalid")
        if not payload.get("msg_type"):
            return reply(19002, "params error, msg_type need")
        if robot.ip_refused(received.remote_addr):
            return reply(19022, "Ip Not Allowed")
        if robot.secret and not self._signed(robot, payload):
            return reply(19021, SIGN_FAIL)
        text = visible_text(payload)
        if robot.keyword_missing(text):
            return reply(19024, "Key Words Not Found")
        now = self.clock()
        if robot.recent(now, 1) >= self.per_second or robot.recent(now, 60) >= robot.per_minute:
            if self.rate_reply == "9499":
                return reply(9499, "too many request", status=400)
            return reply(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[-1]")
        robot.accepted_at.append(now)
        robot.messages.append(_delivered(payload, text))
        return json_reply(SUCCESS)

    def _signed(self, robot: Robot, payload: dict) -> bool:
        timestamp, sign = str(payload.get("timestamp", "")), str(payload.get("sign", ""))
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > self.skew:
            return False
        return hmac.compare_digest(sign, expected_sign(robot.secret, timestamp))


def visible_text(payload: dict) -> str:
    """What a member reads: the text, or a post's title and every element's text."""
    content = payload.get("content") or {}
    if payload.get("msg_type") == "text":
        return str(content.get("text", ""))
    if payload.get("msg_type") == "post":
        lines = []
        for language in (content.get("post") or {}).values():
            lines.append(str(language.get("title", "")))
            for paragraph in language.get("content") or []:
                lines.append("".join(str(e.get("text", "")) for e in paragraph))
        return "\n".join(lines)
    return json.dumps(payload.get("card") or content, ensure_ascii=False)


def _delivered(payload: dict, text: str) -> Delivered:
    mentions = re.findall(r'<at user_id="([^"]+)">', text)
    for language in ((payload.get("content") or {}).get("post") or {}).values():
        for paragraph in language.get("content") or []:
            mentions += [e.get("user_id", "") for e in paragraph if e.get("tag") == "at"]
    at_all = "all" in mentions
    return Delivered(
        text=text,
        msgtype=payload["msg_type"],
        payload=payload,
        mentions=[m for m in mentions if m != "all"],
        at_all=at_all,
    )
