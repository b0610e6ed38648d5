"""Slack incoming webhook emulator: /services/T…/B…/SECRET, replies in plain words with the HTTP status.

Slack answers "ok" (HTTP 200) or one word naming what went wrong: a removed webhook, a missing or archived
channel, a workspace that forbids posting, a body it cannot read; and 429 with Retry-After when a webhook
posts more than about once a second.
"""

import re
import secrets

from werkzeug.wrappers import Request, Response

from tests.emulators.server import Delivered, Emulator, Received, Robot, parse_json

HOOK = re.compile(r"^/services/(?P<token>T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+)$")
# What each refusal a robot can be set to answers, with its HTTP status (Slack's documentation).
STATUS = {
    "invalid_payload": 400,
    "no_text": 400,
    "user_not_found": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "posting_to_general_channel_denied": 403,
    "no_service": 404,
    "channel_not_found": 404,
    "no_team": 404,
    "channel_is_archived": 410,
    "rate_limited": 429,
    "rollup_error": 500,
}
MENTION = re.compile(r"<@(U[A-Z0-9]+)(?:\|[^>]*)?>")
AT_ALL = ("<!channel>", "<!here>", "<!everyone>")


def word(code: str, status: int | None = None, **headers: str) -> Response:
    """A reply the way Slack sends it: one word, as text/html."""
    return Response(code, status=status or STATUS.get(code, 200), content_type="text/html", headers=headers)


class SlackEmulator(Emulator):
    """Checks the webhook, the JSON and its text, and about one message a second per webhook (short bursts).

    `refuse(robot, "channel_is_archived")` makes a robot answer that refusal from then on.
    """

    burst = 3  # messages a webhook may post within one second before it is rate limited
    retry_after = 1  # seconds, in Retry-After

    def __init__(self) -> None:
        self.refusals: dict[str, str] = {}
        super().__init__()

    def new_token(self) -> str:
        team, bot = secrets.token_hex(4).upper(), secrets.token_hex(5).upper()
        return f"T{team}/B{bot}/{secrets.token_hex(12)}"

    def url_for(self, robot: Robot) -> str:
        return f"{self.base_url}/services/{robot.token}"

    def refuse(self, robot: Robot, code: str) -> None:
        self.refusals[robot.token] = code

    def handle(self, request: Request, received: Received) -> Response:
        match = HOOK.match(request.path)
        robot = self.robots.get(match["token"]) if match else None
        if robot is None:
            return word("no_service")
        if request.method != "POST":
            return word("invalid_payload")
        refusal = self.refusals.get(robot.token)
        if refusal == "rate_limited":
            return word(refusal, **{"Retry-After": str(self.retry_after)})
        if refusal:
            return word(refusal)
        payload = parse_json(received.body)
        if not isinstance(payload, dict):
            return word("invalid_payload")
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            return word("no_text")
        now = self.clock()
        if robot.recent(now, 1) >= self.burst:
            return word("rate_limited", **{"Retry-After": str(self.retry_after)})
        robot.accepted_at.append(now)
        robot.messages.append(_delivered(text, payload))
        return word("ok")


def _delivered(text: str, payload: dict) -> Delivered:
    """The message as the channel shows it: mentions and @channel only where Slack's markup makes them."""
    return Delivered(
        text=text,
        msgtype="text",
        payload=payload,
        mentions=MENTION.findall(text),
        at_all=any(marker in text for marker in AT_ALL),
    )
