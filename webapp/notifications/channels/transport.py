"""Replies without a provider's code: 5xx, redirects, 4xx, a web page, text that is not the robot API's.

Behind an intranet gateway (an nginx forward), a reply that is the gateway's own is explained as such; who is
a gateway is for the registry to say (it knows every provider's hosts), so it is passed in.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from webapp.notifications.channels.masking import mask_url
from webapp.notifications.channels.message import RobotSettings
from webapp.notifications.channels.replies import Reply, header, is_html, outcome, parse_json
from webapp.notifications.outcome import Outcome, Status


def transport(reply: Reply, gateway: str | None = None, provider: Any = "", host: str = "") -> Outcome:
    """What a reply without a provider code means; `gateway`: the gateway's host[:port] when there is one.

    `provider` and `host`: the label and the official host of the robot's provider, for the gateway's hints.
    """
    if gateway and reply.settings is not None:
        hint = _through_gateway(
            reply.status_code, reply.headers, reply.text, reply.raw, reply.settings, gateway, provider, host
        )
        if hint is not None:
            return hint
    return _transport(reply.status_code, reply.headers, reply.text, reply.raw)


def _through_gateway(
    status_code: int,
    headers: Mapping[str, str] | None,
    body_text: str,
    raw: str,
    settings: RobotSettings,
    gateway: str,
    provider: Any,
    host: str,
) -> Outcome | None:
    """The gateway's own failures: cannot reach the provider, no matching location, refused by allow/deny."""
    code = f"HTTP {status_code}"
    html = is_html(headers, body_text)
    if status_code == 404:
        return _gateway_404(code, raw, settings, gateway, provider, html or not parse_json(body_text))
    if status_code == 403 and html:
        return outcome(
            Status.FAILED,
            _l("The gateway at %(gateway)s refused Herald (HTTP 403).", gateway=gateway),
            _l(
                "The allow / deny lines of the location in nginx.conf must allow the address Herald's "
                "server connects from; reload nginx after changing them (nginx -s reload)."
            ),
            code,
            raw,
        )
    if status_code in (502, 504) or (html and status_code >= 400 and status_code not in (401, 407)):
        cause = (
            _l(
                "The gateway at %(gateway)s could not reach %(provider)s: it did not answer the gateway in "
                "time (HTTP 504).",
                gateway=gateway,
                provider=provider,
            )
            if status_code == 504
            else _l(
                "The gateway at %(gateway)s could not reach %(provider)s (HTTP %(status)s).",
                gateway=gateway,
                provider=provider,
                status=status_code,
            )
        )
        return outcome(
            Status.RETRY if status_code >= 500 else Status.FAILED,
            cause,
            _l(
                "On the gateway host, check that it reaches %(host)s: curl -sS -o /dev/null -w "
                "'%%{http_code}' https://%(host)s/ ; then read nginx's error.log (name resolution, firewall, "
                "outbound proxy, certificate checks). Herald tries again later.",
                host=host,
            ),
            code,
            raw,
        )
    if html and status_code < 400:
        return outcome(
            Status.FAILED,
            _l(
                "The gateway at %(gateway)s answered with a web page (HTTP %(status)s) instead of "
                "%(provider)s's reply.",
                gateway=gateway,
                status=status_code,
                provider=provider,
            ),
            _l(
                "Something at the gateway's address is not the forward: check that the webhook address "
                "names the nginx server and its port, and that the location forwards to %(host)s.",
                host=host,
            ),
            code,
            raw,
        )
    return None


def _gateway_404(
    code: str, raw: str, settings: RobotSettings, gateway: str, provider: Any, not_json: bool
) -> Outcome:
    path = urlsplit(mask_url(settings.webhook_url)).path
    if not_json:
        return outcome(
            Status.FAILED,
            _l(
                "The gateway at %(gateway)s has no forward for this address (HTTP 404 from nginx): the "
                "location in nginx.conf does not match the webhook path %(path)s.",
                gateway=gateway,
                path=path,
            ),
            _l(
                "Make the location in nginx.conf a prefix of that path (Robots → nginx configuration shows "
                "the block to paste), reload nginx (nginx -s reload), then use Send test message."
            ),
            code,
            raw,
        )
    return outcome(
        Status.FAILED,
        _l(
            "%(provider)s answered 404 through the gateway at %(gateway)s: the gateway forwards to a "
            "wrong path.",
            provider=provider,
            gateway=gateway,
        ),
        _l(
            "Check proxy_pass in nginx.conf: it must end with the provider's API folder and a slash, as the "
            "location does (Robots → nginx configuration shows the block)."
        ),
        code,
        raw,
    )


def _transport(status_code: int, headers: Mapping[str, str] | None, body_text: str, raw: str) -> Outcome:
    """The generic reading of a reply without a provider code."""
    code = f"HTTP {status_code}"
    html = is_html(headers, body_text)
    gateway = _l(
        "An HTML page instead of the robot API's JSON usually means a gateway in between (nginx, a proxy, "
        "a firewall) answered instead of the provider."
    )
    if status_code >= 500 or status_code in (408, 429):
        return outcome(
            Status.RETRY,
            _l(
                "The server answered HTTP %(status)s: it, or a gateway in front of it, is in trouble.",
                status=status_code,
            ),
            gateway if html else _l("Herald will try again later."),
            code,
            raw,
        )
    if 300 <= status_code < 400:
        return outcome(
            Status.FAILED,
            _l(
                "The address redirects (to %(location)s); robot APIs never redirect.",
                location=header(headers, "Location") or "?",
            ),
            _l("Use https:// and the exact address, or make the gateway forward instead of redirecting."),
            code,
            raw,
        )
    if status_code == 407:
        return outcome(
            Status.FAILED,
            _l("The outbound proxy asks for a user name and password (HTTP 407), or refused the ones given."),
            _l("Enter the proxy's user name and password in System settings → Network, then Test."),
            code,
            raw,
        )
    if status_code in (401, 403):
        return outcome(
            Status.FAILED,
            _l("Access refused with HTTP %(status)s.", status=status_code),
            gateway if html else _l("Check the proxy or gateway credentials and the robot's address."),
            code,
            raw,
        )
    if status_code == 404:
        return outcome(
            Status.FAILED,
            _l("Nothing at this address (HTTP 404): the path is wrong."),
            _l("Copy the webhook address again; behind a gateway, check its location and path forwarding."),
            code,
            raw,
        )
    if 400 <= status_code < 500:
        return outcome(
            Status.FAILED,
            _l("The server refused the request with HTTP %(status)s.", status=status_code),
            gateway if html else _l("Check the robot's address and settings, then use Send test message."),
            code,
            raw,
        )
    return outcome(
        Status.FAILED,
        _l("The reply is not the robot API's JSON, so delivery cannot be confirmed."),
        gateway if html else _l("Check that the address points at the robot API, not at another web page."),
        code,
        raw,
    )
