"""The administrator's settings that sending needs (SMTP server, outbound proxy), handed down by the app.

Delivery sits below the services that keep these settings, so it never imports them: the app factory installs
their readers here (`install`), and delivery calls them once per batch (`readers`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from webapp.notifications.smtp import SmtpSettings

KEY = "herald.sending"


@dataclass(frozen=True)
class Readers:
    """How to read the stored settings: the SMTP server, the proxy, the proxies for one address, the guard."""

    smtp: Callable[[], SmtpSettings]
    proxy: Callable[[], Any]
    proxies_for: Callable[[str, Any], dict[str, str | None] | None]
    guard: Callable[[], Any]  # the outbound guard, with the administrator's allowlist


def install(app: Flask, readers: Readers) -> None:
    """Give this app's deliveries the readers of its settings."""
    app.extensions[KEY] = readers


def readers() -> Readers:
    """The readers the running app installed."""
    return current_app.extensions[KEY]
