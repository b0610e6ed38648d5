"""DingTalk custom robot emulator: /robot/send?access_token=TOKEN, signing in the query, errcode replies."""

import base64
import hashlib
import hmac
import json
import secrets
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from tests.emulators.server import Delivered, Emulator, Received, Robot, json_reply, parse_json

PATH = "/robot/send"
MAX_BODY = 20000
MORE = "more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
SOLUTIONS = {
    "keyword": "请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词",
    "sign": "请确认签名和生成签名的时间戳是否正确",
    "timestamp": "请使用新的时间戳重新生成签名",
    "ip": "请在机器人的安全设置中把此ip加入白名单",
}
# The three wordings DingTalk has used for its 310000 replies; all are still seen.
DESCRIPTIONS = {
    "keyword": ("keywords not in content", "关键词不匹配"),
    "sign": ("sign not match", "机器人发送签名不匹配"),
    "timestamp": ("invalid timestamp", "机器人发送签名过期"),
    "ip": ("ip {ip} not in whitelist", "ip {ip} 不在白名单中"),
}


def expected_sign(secret: str, timestamp: str) -> str:
    """The signature the server computes: key the whole secret, message "timestamp\\nsecret", base64."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkEmulator(Emulator):
    """Checks the token, IP allowlist, signature and clock, JSON, size, shape, keywords and the rate limit."""

    style = "en"  # how 310000 replies are worded: "en", "description" or "cn"
    throttle = 600.0  # after the 21st message in a minute the robot is throttled for 10 minutes

    def new_token(self) -> str:
        return secrets.token_hex(32)

    def url_for(self, robot: Robot) -> str:
        return f"{self.base_url}{PATH}?access_token={robot.token}"

    def security(self, what: str, ip: str = "127.0.0.1") -> Response:
        """A 310000 reply in the emulator's current wording."""
        english, chinese = (d.format(ip=ip) for d in DESCRIPTIONS[what])
        if self.style == "description":
            errmsg = f"description:{chinese};solution:{SOLUTIONS[what]};"
        elif self.style == "cn":
            errmsg = f"错误描述:{chinese};解决方案:{SOLUTIONS[what]};"
        else:
            errmsg = f"{english}, {MORE}"
        return json_reply({"errcode": 310000, "errmsg": errmsg})

    def handle(self, request: Request, received: Received) -> Response:
        if request.path != PATH:
            return Response("<html><body>404 Not Found</body></html>", status=404, content_type="text/html")
        # Decoded exactly once, as a server does: a sign encoded twice arrives still encoded.
        query = parse_qs(received.query, keep_blank_values=True)
        robot = self.robots.get(query.get("access_token", [""])[0])
        if robot is None:
            return json_reply({"errcode": 300001, "errmsg": "token is not exist"})
        if robot.ip_refused(received.remote_addr):
            return self.security("ip", received.remote_addr)
        if robot.secret:
            refusal = self._check_sign(robot, query)
            if refusal:
                return self.security(refusal)
        return self._message(robot, received)

    def _check_sign(self, robot: Robot, query: dict[str, list[str]]) -> str | None:
        timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        if not timestamp.isdigit() or abs(self.clock() * 1000 - int(timestamp)) > self.skew * 1000:
            return "timestamp"
        if not hmac.compare_digest(sign, expected_sign(robot.secret, timestamp)):
            return "sign"
        return None

    def _message(self, robot: Robot, received: Received) -> Response:
        payload = parse_json(received.body)
        if not isinstance(payload, dict):
            return json_reply({"errcode": 40035, "errmsg": "缺少参数 json"})
        if len(received.body) > MAX_BODY:
            return json_reply({"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"})
        msgtype = payload.get("msgtype")
        if msgtype == "markdown":
            markdown = payload.get("markdown") or {}
            if not markdown.get("title"):
                return json_reply({"errcode": 400402, "errmsg": "缺少参数 markdown.title"})
            if not markdown.get("text"):
                return json_reply({"errcode": 400403, "errmsg": "缺少参数 markdown.text"})
        elif msgtype == "text":
            if not (payload.get("text") or {}).get("content"):
                return json_reply({"errcode": 40035, "errmsg": "缺少参数 text.content"})
        else:
            return json_reply({"errcode": 40035, "errmsg": "缺少参数 msgtype"})
        text = visible_text(payload)
        if robot.keyword_missing(text):
            return self.security("keyword")
        return self._accept(robot, payload, text)

    def _accept(self, robot: Robot, payload: dict, text: str) -> Response:
        now = self.clock()
        if now < robot.throttled_until:
            return json_reply({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        if robot.recent(now, 60) >= robot.per_minute:
            robot.throttled_until = now + self.throttle
            return json_reply({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        robot.accepted_at.append(now)
        at = payload.get("at") or {}
        # A mobile in atMobiles renders as a mention only when "@mobile" is in the text too.
        mentions = [m for m in at.get("atMobiles") or [] if f"@{m}" in text]
        robot.messages.append(
            Delivered(
                text=text,
                msgtype=payload["msgtype"],
                payload=payload,
                mentions=mentions,
                at_all=bool(at.get("isAtAll")),
            )
        )
        return json_reply({"errcode": 0, "errmsg": "ok"})


def visible_text(payload: dict) -> str:
    """What a member reads (titles count for keywords)."""
    if payload.get("msgtype") == "text":
        return str(payload["text"]["content"])
    if payload.get("msgtype") == "markdown":
        return f"{payload['markdown']['title']}\n{payload['markdown']['text']}"
    return json.dumps(payload, ensure_ascii=False)
