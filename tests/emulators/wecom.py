"""WeCom group robot emulator: /cgi-bin/webhook/send?key=KEY, errcode replies always with HTTP 200."""

import secrets
import uuid

from werkzeug.wrappers import Request, Response

from tests.emulators.server import Delivered, Emulator, Received, Robot, json_reply, parse_json

PATH = "/cgi-bin/webhook/send"
LIMITS = {"text": 2048, "markdown": 4096}  # bytes of content, as documented


class WeComEmulator(Emulator):
    """Checks the key, the JSON, msgtype, content and its size, and 20 messages a minute per robot."""

    def new_token(self) -> str:
        return str(uuid.uuid4())

    def url_for(self, robot: Robot) -> str:
        return f"{self.base_url}{PATH}?key={robot.token}"

    def error(self, code: int, message: str, remote_addr: str = "127.0.0.1") -> Response:
        """An error the way WeCom words it: hint, the sender's address, and a link to the code's page."""
        hint = f"{int(self.clock())}_{secrets.token_hex(8)}"
        errmsg = (
            f"{message}, hint: [{hint}], from ip: {remote_addr}, "
            f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
        )
        return json_reply({"errcode": code, "errmsg": errmsg})

    def handle(self, request: Request, received: Received) -> Response:
        ip = received.remote_addr
        if request.path != PATH:
            return Response("<html><body>404 Not Found</body></html>", status=404, content_type="text/html")
        robot = self.robots.get(request.args.get("key", ""))
        if robot is None:
            return self.error(93000, "invalid webhook url", ip)
        payload = parse_json(received.body)
        if not isinstance(payload, dict):
            return self.error(40008, "Warning: wrong json format. invalid message type", ip)
        msgtype = payload.get("msgtype")
        if msgtype not in LIMITS:
            return self.error(40008, "invalid message type", ip)
        content = (payload.get(msgtype) or {}).get("content") or ""
        if not content:
            return self.error(44004, "empty content", ip)
        if len(content.encode("utf-8")) > LIMITS[msgtype]:
            return self.error(40058, f"{msgtype}.content exceed max length {LIMITS[msgtype]}", ip)
        now = self.clock()
        if robot.recent(now, 60) >= robot.per_minute:
            return self.error(45009, "api freq out of limit", ip)
        robot.accepted_at.append(now)
        robot.messages.append(_delivered(msgtype, payload))
        return json_reply({"errcode": 0, "errmsg": "ok"})


def _delivered(msgtype: str, payload: dict) -> Delivered:
    part = payload[msgtype]
    # Only text messages carry mention lists; markdown mentions need <@userid> inside the content.
    mentions = list(part.get("mentioned_mobile_list") or []) if msgtype == "text" else []
    mentioned = list(part.get("mentioned_list") or []) if msgtype == "text" else []
    at_all = "@all" in mentions or "@all" in mentioned
    mentions = [m for m in mentions if m != "@all"]
    return Delivered(text=part["content"], msgtype=msgtype, payload=payload, mentions=mentions, at_all=at_all)
